/* Test harness only, never shipped: Wine 8 has no bcryptprimitives.dll, but Rust's standard
 * library imports ProcessPrng from it. This stand-in answers ProcessPrng with RtlGenRandom
 * (advapi32!SystemFunction036), which Wine has. Built with mingw by `cargo xtask test`. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
