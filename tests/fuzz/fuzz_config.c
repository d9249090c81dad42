/*
 * fuzz_config.c: libFuzzer target for the config file (sync/settings.c):
 * each line through ps_settings_parse_line() and, for a name of the
 * table, ps_settings_set() (the checks of every type); then the whole
 * input as a config file through ps_settings_load_file() (line lengths,
 * line numbers, precedence), unless it names a "_file" setting, whose
 * path would be read (issue "Hardening").
 *
 * Checked beyond crashes, leaks and undefined behaviour: a comment line
 * gives no name; a name is never empty, holds no '=' and no blank at its
 * ends; an unquoted value never holds a '#' after a blank nor ends with a
 * blank; name and value lie inside the line.
 */
#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_line(ps_settings *s, const char *text, size_t len)
{
	char line[4200], copy[4200], err[512];
	ps_config_line cl;
	const char *p;
	size_t n;

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, text, len);
	line[len] = '\0';
	memcpy(copy, line, len + 1);
	if (ps_settings_parse_line(line, &cl, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			abort(); /* a refusal says why */
		return;
	}
	for (p = copy; blank(*p); p++)
		;
	if (cl.name == NULL) {
		if (cl.value != NULL || (*p && *p != '#' && *p != '\r' && *p != '\n'))
			abort();
		return;
	}
	n = strlen(cl.name);
	if (n == 0 || strchr(cl.name, '=') || blank(cl.name[0]) || blank(cl.name[n - 1]))
		abort();
	if (cl.name < line || cl.name >= line + sizeof(line) || cl.value < line ||
	    cl.value >= line + sizeof(line))
		abort();
	/* Unquoted values: the comment is gone, no blank at the end. */
	for (p = strchr(copy, '=') + 1; blank(*p); p++)
		;
	if (*p != '"') {
		n = strlen(cl.value);
		if (n && blank(cl.value[n - 1]))
			abort();
		if (cl.value[0] == '#' || strstr(cl.value, " #") || strstr(cl.value, "\t#"))
			abort();
	}
	/* Names of the table take the value through their type's checks. */
	(void)ps_settings_set(s, cl.name, cl.value, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ps_settings s;
	char err[512], path[64];
	size_t start = 0, i;
	int fd;

	if (ps_settings_load(&s, err, sizeof(err)) < 0)
		abort(); /* the fuzzer's environment sets no PINSYNC_* */
	for (i = 0; i <= size; i++)
		if (i == size || data[i] == '\n') {
			check_line(&s, (const char *)data + start, i - start);
			start = i + 1;
		}
	if (memmem(data, size, "_file", 5) == NULL &&
	    (fd = memfd_create("ps_fuzz_config", MFD_CLOEXEC)) >= 0) {
		if (write(fd, data, size) == (ssize_t)size) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			if (ps_settings_load_file(&s, path, err, sizeof(err)) < 0 && err[0] == '\0')
				abort();
		}
		close(fd);
	}
	ps_settings_free(&s);
	return 0;
}
