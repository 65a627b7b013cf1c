build-clang-san/obj/src/rules/fa.o: src/rules/fa.c src/rules/rules.h \
  src/engine/engine.h src/nn/nn.h src/core/core.h include/bpfree.h \
  src/optim/optim.h

src/rules/rules.h:

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
