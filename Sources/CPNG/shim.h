// libpng's simplified write API (Debian: libpng-dev); it needs no setjmp error handling.
#ifndef ATTRGUARD_CPNG_SHIM_H
#define ATTRGUARD_CPNG_SHIM_H
#include <string.h>
#include <png.h>
static inline int cpng_write_rgb(const char *path, unsigned width, unsigned height, const unsigned char *rgb) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = PNG_FORMAT_RGB;
    return png_image_write_to_file(&image, path, 0, rgb, 0, NULL);
}
#endif
