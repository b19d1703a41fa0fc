// The favor sub-commands. Each returns the process exit code: 0 success, 1 failure (the error is
// printed on one line to stderr), 2 bad usage.
#pragma once

namespace favor::cli {

int Generate(int argc, char** argv);
int Chat(int argc, char** argv);
int Serve(int argc, char** argv);
int Calibrate(int argc, char** argv);
int Variance(int argc, char** argv);
int Inspect(int argc, char** argv);
int Info(int argc, char** argv);
int Bench(int argc, char** argv);
int Eval(int argc, char** argv);
int Tokenize(int argc, char** argv);
int Logits(int argc, char** argv);
int Quantize(int argc, char** argv);

}  // namespace favor::cli
