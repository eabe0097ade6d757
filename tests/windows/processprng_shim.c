/* Test-only shim: bcryptprimitives.dll with the one export Rust needs.
 *
 * Why it exists: Rust's standard library (1.78 and later) gets its random seeds
 * from ProcessPrng in bcryptprimitives.dll, which every Windows since 10 has but
 * Wine 8 (Debian's wine64) lacks, so every Rust .exe fails to start under that
 * Wine. The Windows smoke test (tests/windows/smoke.sh) builds this with the MinGW
 * compiler and puts it beside the .exe, where Windows' DLL search finds it first.
 * It never ships: real Windows has the real DLL, and scripts/dist.sh does not
 * package this.
 *
 * ProcessPrng fills the buffer with random bytes and always succeeds; here it
 * calls RtlGenRandom (exported by advapi32 as SystemFunction036), which Wine
 * has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
