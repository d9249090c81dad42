/*
 * hash_avx2.c: the canonical item hash (hash_impl.h) with XXH3 inlined
 * from <xxhash.h> and this file compiled with -mavx2 (feeds/CMakeLists.txt
 * does so on x86-64 when the compiler accepts it, and defines
 * PS_HAVE_HASH_AVX2 for normalise.c). normalise.c calls it only when the
 * CPU has AVX2. The value is XXH3's, the same as libxxhash's SSE2 build
 * gives: hashes stored in snapshots do not change.
 */
#include "feeds_int.h"

#if defined(__AVX2__)
#define XXH_INLINE_ALL
#include <xxhash.h>

#define PS_HASH_FN hash_avx2
#include "hash_impl.h"

uint64_t ps_feed__hash_avx2(const ps_item *it, uint64_t present);

uint64_t
ps_feed__hash_avx2(const ps_item *it, uint64_t present)
{
	return hash_avx2(it, present);
}
#endif /* else: built without AVX2, nothing here; normalise.c does not call it */
