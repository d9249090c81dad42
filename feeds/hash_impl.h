/*
 * hash_impl.h: the canonical item hash (what ps_item_hash() returns), for
 * the files that build it: normalise.c with XXH3 from libxxhash, and
 * hash_avx2.c with XXH3 inlined and compiled for AVX2. XXH3 gives the same
 * value whatever the vector width; only the speed differs. Include after
 * <xxhash.h> and feeds_int.h, with PS_HASH_FN naming the function:
 *
 *   static uint64_t PS_HASH_FN(const ps_item *it, uint64_t present);
 *
 * which hashes the attributes whose bit is set in present (an absent value
 * is skipped even if its bit is set). Not a public header.
 */
#ifndef PS_FEEDS_HASH_IMPL_H
#define PS_FEEDS_HASH_IMPL_H

/* The longest wire name, from the table itself (sizeof counts the NUL). */
union name_sizes {
#define PS_NAME_SIZE(e, name, type, max, req) char e[sizeof(name)];
	PS_ATTR_TABLE(PS_NAME_SIZE)
#undef PS_NAME_SIZE
};

/* Each attribute's head before its value's length: the wire name's length
 * (2 bytes LE) and the name, padded, so that it is copied in one go (these
 * heads written byte by byte were half the hash's cost). */
static const struct name_head {
	unsigned char len[2];
	char name[sizeof(union name_sizes)];
} name_heads[PS_ATTR__COUNT] = {
#define PS_NAME_HEAD(e, name, type, max, req) \
	[PS_ATTR_##e] = {{(sizeof(name) - 1) & 0xFF, (sizeof(name) - 1) >> 8}, name},
    PS_ATTR_TABLE(PS_NAME_HEAD)
#undef PS_NAME_HEAD
};

#define HASH_BUF 4096

static void
put_le64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 8);
#else
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
#endif
}

/*
 * XXH3-64 over, for each present attribute in table order: the length of
 * its wire name (2 bytes LE), the name, the value's length (8 bytes LE) and
 * the value. Little-endian so that hashes stored in PostgreSQL mean the
 * same on every machine; names rather than indexes so that a row added to
 * attrs.h does not change the hash of items without that attribute. Small
 * items are hashed in one call from a stack buffer; big ones stream (XXH3
 * gives the same hash for the same bytes either way, however they are cut:
 * streaming every piece instead cost more, small pieces being most).
 */
static uint64_t
PS_HASH_FN(const ps_item *it, uint64_t present)
{
	XXH3_state_t st;
	/* slack: a name head is copied whole, padding included */
	unsigned char buf[HASH_BUF + sizeof(struct name_head)];
	size_t k = 0;
	int streaming = 0;

	for (; present != 0; present &= present - 1) {
		const int a = __builtin_ctzll(present);
		const ps_slice v = it->values[a];
		const struct name_head *nh = &name_heads[a];
		size_t nlen, head;

		if (v.ptr == NULL)
			continue;
		nlen = (size_t)nh->len[0] | (size_t)nh->len[1] << 8;
		head = 2 + nlen + 8;
		if (k + head + v.len > HASH_BUF) {
			if (!streaming) {
				XXH3_INITSTATE(&st);
				(void)XXH3_64bits_reset(&st);
				streaming = 1;
			}
			(void)XXH3_64bits_update(&st, buf, k);
			k = 0;
		}
		memcpy(buf + k, nh, sizeof(*nh));
		k += 2 + nlen;
		put_le64(buf + k, (uint64_t)v.len);
		k += 8;
		if (v.len > HASH_BUF - k) {
			(void)XXH3_64bits_update(&st, buf, k); /* streaming: head + v > buf */
			(void)XXH3_64bits_update(&st, v.ptr, v.len);
			k = 0;
		} else {
			memcpy(buf + k, v.ptr, v.len);
			k += v.len;
		}
	}
	if (!streaming)
		return XXH3_64bits(buf, k);
	(void)XXH3_64bits_update(&st, buf, k);
	return XXH3_64bits_digest(&st);
}

#endif /* PS_FEEDS_HASH_IMPL_H */
