// cblas.h from Debian's libopenblas-dev (its include path comes from pkg-config "openblas").
#ifndef ATTRGUARD_COPENBLAS_SHIM_H
#define ATTRGUARD_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
