// FAVOR_API marks what libfavor.so exports; everything else in it is hidden.
#pragma once

#if defined(__GNUC__)
#define FAVOR_API __attribute__((visibility("default")))
#else
#define FAVOR_API
#endif
