/* entry.c — main() of bpfree: the command (main.c) without MPI.  bpfree-mpi
 * has its own main (src/dist/mpi.c), so the plain binary and library never
 * link Open MPI. */
#include "cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
