/*
 * fuzz_normalise.c: libFuzzer target for ps_item_normalise() and
 * ps_item_hash(). The input is split at 0x00 bytes into attribute values
 * (the first byte of each piece picks the attribute), given a scratch
 * buffer as ps_feed gives one (4x the text plus room per attribute), then
 * normalised. Checked: no crash or overflow (ASan), values NUL-terminated
 * and valid UTF-8 after normalisation unless a bad_utf8 problem says so,
 * the hash stable. And the whole input, as a description would be, through
 * ps_feed__html_to_text() (out of place and in place) and through the
 * reference it replaced (tests/unit/html_ref.h, compiled into this target
 * only): the outputs must be the same bytes (issue 15).
 */
#include "fuzz_common.h"

#include "../unit/html_ref.h"
#include "feeds_int.h" /* ps_feed__html_to_text() */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k = c < 0x80         ? 1
		           : (c >> 5) == 6  ? 2
		           : (c >> 4) == 14 ? 3
		           : (c >> 3) == 30 ? 4
		                            : 0;
		size_t j;

		if (k == 0 || i + k > n)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		}
		i += k;
	}
	return 1;
}

/* The new conversion against the reference: abort() when they differ. */
static void
html_same(const uint8_t *data, size_t size)
{
	char *want = malloc(size + 1), *got = malloc(size + 1);
	size_t wn, gn;

	if (want == NULL || got == NULL)
		abort();
	wn = ref_html_to_text(want, (const char *)data, size);
	gn = ps_feed__html_to_text(got, (const char *)data, size);
	if (gn != wn || memcmp(got, want, wn) != 0)
		abort();
	memcpy(got, data, size);
	gn = ps_feed__html_to_text(got, got, size);
	if (gn != wn || memcmp(got, want, wn) != 0)
		abort();
	free(want);
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	ps_item it;
	char *text, *scratch;
	size_t i = 0, cap;
	uint64_t h;
	int a;

	if (size < 1 || size > (1 << 16))
		return 0;
	html_same(data, size);
	memset(&it, 0, sizeof(it));
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	o.default_currency = (data[0] & 1) ? "EUR" : NULL;
	o.base_url = (data[0] & 2) ? "https://shop.example" : NULL;
	i = 1;
	while (i < size) {
		size_t e = i;

		while (e < size && text[e] != '\0')
			e++;
		if (e > i) {
			a = (unsigned char)text[i] % PS_ATTR__COUNT;
			it.values[a].ptr = text + i + 1;
			it.values[a].len = e - i - 1;
			text[e] = '\0';
		}
		i = e + 1;
	}
	cap = 4 * size + 16 * PS_ATTR__COUNT + 64 + (PS_MAX_ADDITIONAL_IMAGES + 8) * 40;
	scratch = malloc(cap);
	if (scratch == NULL) {
		free(text);
		return 0;
	}
	it.scratch = scratch;
	it.scratch_cap = cap;
	ps_item_normalise(&it, &o);
	for (a = 0; a < PS_ATTR__COUNT; a++) {
		const ps_slice v = it.values[a];
		int k, bad = 0;

		if (v.ptr == NULL)
			continue;
		if (v.ptr[v.len] != '\0')
			abort();
		for (k = 0; k < it.nproblems; k++)
			bad |= it.problems[k].attr == a;
		if (!bad && !utf8_ok((const unsigned char *)v.ptr, v.len))
			abort();
	}
	h = ps_item_hash(&it);
	if (h != it.hash)
		abort();
	free(scratch);
	free(text);
	return 0;
}
