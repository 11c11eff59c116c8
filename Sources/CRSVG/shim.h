// SVG text to PNG bytes in memory through librsvg and cairo (Debian: librsvg2-dev); the caller
// writes them where it wants and frees *out. One call, so Swift sees no GLib types: 0 on success,
// else a short reason in `reason` (which holds `capacity` bytes).
#ifndef ATTRGUARD_CRSVG_SHIM_H
#define ATTRGUARD_CRSVG_SHIM_H
#include <stdio.h>
#include <string.h>
#include <librsvg/rsvg.h>
#include <cairo.h>
#include <stdlib.h>

// cairo's PNG stream: appended to a growing malloc'd buffer.
typedef struct { unsigned char *bytes; size_t length, capacity; } crsvg_buffer;

static inline cairo_status_t crsvg_append(void *closure, const unsigned char *data, unsigned int length) {
    crsvg_buffer *b = (crsvg_buffer *)closure;
    if (b->length + length > b->capacity) {
        size_t capacity = (b->capacity + length) * 2;
        unsigned char *grown = (unsigned char *)realloc(b->bytes, capacity);
        if (!grown) return CAIRO_STATUS_NO_MEMORY;
        b->bytes = grown;
        b->capacity = capacity;
    }
    memcpy(b->bytes + b->length, data, length);
    b->length += length;
    return CAIRO_STATUS_SUCCESS;
}

static inline int crsvg_render_png(const char *svg, size_t length, double scale, unsigned char **out, size_t *outLength,
                                   char *reason, size_t capacity) {
    *out = NULL;
    GError *error = NULL;
    RsvgHandle *handle = rsvg_handle_new_from_data((const guint8 *)svg, length, &error);
    if (!handle) {
        snprintf(reason, capacity, "librsvg could not read the SVG: %s", error ? error->message : "unknown error");
        if (error) g_error_free(error);
        return 1;
    }
    gdouble width = 0, height = 0;
    if (!rsvg_handle_get_intrinsic_size_in_pixels(handle, &width, &height) || width <= 0 || height <= 0) {
        snprintf(reason, capacity, "the SVG has no pixel size");
        g_object_unref(handle);
        return 1;
    }
    int w = (int)(width * scale + 0.5), h = (int)(height * scale + 0.5);
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_t *cr = cairo_create(surface);
    RsvgRectangle viewport = {0, 0, (double)w, (double)h};
    int status = 0;
    if (!rsvg_handle_render_document(handle, cr, &viewport, &error)) {
        snprintf(reason, capacity, "librsvg could not render the SVG: %s", error ? error->message : "unknown error");
        if (error) g_error_free(error);
        status = 1;
    } else {
        crsvg_buffer buffer = {NULL, 0, 0};
        cairo_status_t written = cairo_surface_write_to_png_stream(surface, crsvg_append, &buffer);
        if (written != CAIRO_STATUS_SUCCESS) {
            snprintf(reason, capacity, "cairo could not encode the PNG: %s", cairo_status_to_string(written));
            free(buffer.bytes);
            status = 1;
        } else {
            *out = buffer.bytes;
            *outLength = buffer.length;
        }
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    g_object_unref(handle);
    return status;
}
#endif
