// SVG text to a PNG file through librsvg and cairo (Debian: librsvg2-dev). One call, so Swift sees
// no GLib types: 0 on success, else a short reason in `reason` (which holds `capacity` bytes).
#ifndef ATTRGUARD_CRSVG_SHIM_H
#define ATTRGUARD_CRSVG_SHIM_H
#include <stdio.h>
#include <string.h>
#include <librsvg/rsvg.h>
#include <cairo.h>

static inline int crsvg_write_png(const char *svg, size_t length, const char *path, double scale, char *reason, size_t capacity) {
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
        cairo_status_t written = cairo_surface_write_to_png(surface, path);
        if (written != CAIRO_STATUS_SUCCESS) {
            snprintf(reason, capacity, "cairo could not write the PNG: %s", cairo_status_to_string(written));
            status = 1;
        }
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    g_object_unref(handle);
    return status;
}
#endif
