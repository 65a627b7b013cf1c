build-clang-san/obj/src/rules/ff_train.o: src/rules/ff_train.c \
  src/rules/ff.h src/rules/rules.h src/engine/engine.h src/nn/nn.h \
  src/core/core.h include/bpfree.h src/optim/optim.h

src/rules/ff.h:

src/rules/rules.h:

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
