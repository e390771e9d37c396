/* What the C examples do at their end: read this process's exposition through the C ABI and
 * check that a line is present. */
#ifndef DWCP_EXAMPLE_SUPPORT_C_H
#define DWCP_EXAMPLE_SUPPORT_C_H

#include "dwcp_observer/hooks_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int example_failures = 0;

/* Checks that `line` (a full "series value" line) is in the exposition. */
static void example_expect_line(const char* line) {
  size_t size = dwcp_metrics_text(NULL, 0);
  char* text = (char*)malloc(size + 1);
  dwcp_metrics_text(text, size + 1);
  int found = 0;
  size_t length = strlen(line);
  for (const char* at = strstr(text, line); at != NULL; at = strstr(at + 1, line)) {
    if ((at == text || at[-1] == '\n') && (at[length] == '\n' || at[length] == '\0')) found = 1;
  }
  printf("%s %s\n", found ? "ok  " : "FAIL", line);
  if (!found) ++example_failures;
  free(text);
}

#endif
