/*
 * fuzz_xml.c: libFuzzer target for the XML reader (xml.c over libxml2's
 * SAX2 push parser) and the gzip source. The first byte picks the read
 * chunk size, so that element and entity boundaries fall everywhere, and
 * (bit 2) whether the parser runs on its own thread (pipeline.c).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	char path[64];
	int fd;

	if (size < 1)
		return 0;
	o.format = PS_FORMAT_XML;
	o.chunk_size = 1 + (size_t)data[0] * 37;
	o.max_inflated = 1 << 20;
	o.default_currency = (data[0] & 1) ? "EUR" : NULL;
	o.base_url = (data[0] & 2) ? "https://shop.example" : NULL;
	o.single_thread = (data[0] & 4) != 0;
	fd = fuzz_memfd(path, sizeof(path), data + 1, size - 1);
	if (fd < 0)
		return 0;
	fuzz_drain(path, &o);
	close(fd);
	return 0;
}
