// libpng's simplified write API (Debian: libpng-dev); it needs no setjmp error handling.
#ifndef ATTRGUARD_CPNG_SHIM_H
#define ATTRGUARD_CPNG_SHIM_H
#include <stdlib.h>
#include <string.h>
#include <png.h>
// An RGB image [height, width, 3] as PNG bytes in memory (the caller writes them where it wants
// and frees *out): 1 on success, 0 when libpng cannot encode or memory runs out.
static inline int cpng_encode_rgb(unsigned width, unsigned height, const unsigned char *rgb, void **out, size_t *length) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    *out = NULL;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, rgb, 0, NULL) || size == 0) return 0;
    void *buffer = malloc(size);
    if (!buffer) return 0;
    if (!png_image_write_to_memory(&image, buffer, &size, 0, rgb, 0, NULL)) { free(buffer); return 0; }
    *out = buffer;
    *length = size;
    return 1;
}
#endif
