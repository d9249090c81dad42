/*
 * fuzz_csv.c: libFuzzer target for the CSV/TSV reader (csv.c), format
 * detection, the mapping file's row path and the store presets (map.c,
 * presets.c). The first byte picks the chunk size, the second the format
 * and the preset or mapping file, and (bit 7) whether the parser runs on
 * its own thread (pipeline.c).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char map_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char map[] = "Name = title\nsku = id\nbrand = \"Acme\"\n"
	                          "link = https://s.example/p/{handle}\nignored = -\n";
	int fd;

	(void)argc;
	(void)argv;
	fd = fuzz_memfd(map_path, sizeof(map_path), (const uint8_t *)map, sizeof(map) - 1);
	if (fd < 0)
		abort();
	return 0; /* the memfd stays open for the whole run */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const presets[] = {NULL, "shopify", "woocommerce", "magento2"};
	ps_feed_options o = PS_FEED_OPTIONS_INIT;
	char path[64];
	int fd;

	if (size < 2)
		return 0;
	o.chunk_size = 1 + (size_t)data[0] * 29;
	o.format = (data[1] & 1) ? PS_FORMAT_AUTO : PS_FORMAT_CSV;
	if (data[1] & 2)
		o.format = PS_FORMAT_TSV;
	o.preset = presets[(data[1] >> 2) & 3];
	o.map_file = (data[1] & 16) ? map_path : NULL;
	o.default_currency = (data[1] & 32) ? "USD" : NULL;
	o.base_url = (data[1] & 64) ? "https://shop.example/" : NULL;
	o.single_thread = (data[1] & 128) != 0;
	o.max_inflated = 1 << 20;
	fd = fuzz_memfd(path, sizeof(path), data + 2, size - 2);
	if (fd < 0)
		return 0;
	fuzz_drain(path, &o);
	close(fd);
	return 0;
}
