#include "cli.h"
int cmd_compare(int argc, char **argv) { (void)argc; (void)argv; die("compare: not built yet"); }
