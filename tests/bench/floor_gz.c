/*
 * floor_gz.c: the floor for gzip sources, zlib's inflate alone.
 *
 *   floor_gz FILE [CHUNK]
 *
 * Reads FILE in CHUNK-byte pieces (default 256 KiB) and inflates it in
 * process into a CHUNK-byte buffer that nothing reads. Prints the bytes in
 * and out. What a gzipped feed costs on top of parsing it, at best.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

int
main(int argc, char **argv)
{
	size_t chunk = argc > 2 ? strtoul(argv[2], NULL, 10) : 256 * 1024, n;
	unsigned char *in, *out;
	uint64_t bytes = 0, plain = 0;
	z_stream z;
	int rc = Z_OK;
	FILE *f;

	if (argc < 2) {
		fputs("usage: floor_gz FILE [CHUNK]\n", stderr);
		return 2;
	}
	if ((f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "floor_gz: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	in = malloc(chunk);
	out = malloc(chunk);
	memset(&z, 0, sizeof(z));
	if (in == NULL || out == NULL || inflateInit2(&z, 15 + 32) != Z_OK)
		return 1;
	while (rc != Z_STREAM_END && (n = fread(in, 1, chunk, f)) > 0) {
		bytes += n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		while (z.avail_in > 0 && rc != Z_STREAM_END) {
			z.next_out = out;
			z.avail_out = (uInt)chunk;
			rc = inflate(&z, Z_NO_FLUSH);
			if (rc != Z_OK && rc != Z_STREAM_END) {
				fprintf(stderr, "floor_gz: %s: inflate error %d\n", argv[1], rc);
				return 1;
			}
			plain += chunk - z.avail_out;
		}
	}
	inflateEnd(&z);
	fclose(f);
	free(in);
	free(out);
	if (rc != Z_STREAM_END) {
		fprintf(stderr, "floor_gz: %s: truncated\n", argv[1]);
		return 1;
	}
	printf("bytes %" PRIu64 " inflated %" PRIu64 "\n", bytes, plain);
	return 0;
}
