/*
 * main.c: the pinsync executable, a thin shell over the libraries.
 */
#include <curl/curl.h>

#include "cli.h"

int
main(int argc, char **argv)
{
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = ps_cli_main(argc, argv);
	curl_global_cleanup();
	return rc;
}
