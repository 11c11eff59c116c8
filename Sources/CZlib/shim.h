// zlib, for crc32 checksums of packed datasets (Debian: zlib1g-dev).
#ifndef ATTRGUARD_CZLIB_SHIM_H
#define ATTRGUARD_CZLIB_SHIM_H
#include <zlib.h>
#endif
