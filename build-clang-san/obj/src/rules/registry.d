build-clang-san/obj/src/rules/registry.o: src/rules/registry.c \
  src/rules/rules.h src/engine/engine.h src/nn/nn.h src/core/core.h \
  include/bpfree.h src/optim/optim.h

src/rules/rules.h:

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
