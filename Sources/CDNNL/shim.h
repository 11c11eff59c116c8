// dnnl.h from Debian's libdnnl-dev (oneDNN 2.6, OpenMP runtime; the package has no pkg-config file).
#ifndef ATTRGUARD_CDNNL_SHIM_H
#define ATTRGUARD_CDNNL_SHIM_H
#include <dnnl.h>
#endif
