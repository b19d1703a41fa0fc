namespace favor::cli {
int Eval(int, char**) { return 2; }
}  // namespace favor::cli
