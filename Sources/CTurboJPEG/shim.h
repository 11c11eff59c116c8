// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev).
#ifndef ATTRGUARD_CTURBOJPEG_SHIM_H
#define ATTRGUARD_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
