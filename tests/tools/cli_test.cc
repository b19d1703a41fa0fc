// The favor binary as a user runs it: output, one-line errors, exit codes.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"
#include "tests/tools/cli_runner.h"

namespace {

using Result = favor::testing::CliResult;
using favor::testing::ExpectOneLineError;
using favor::testing::ExpectOneLineErrorFn;
using favor::testing::RunFavor;

const std::string kModels = favor::testing::ModelsDir();

const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";

TEST(Cli, GreedyGenerationFromEachFormat) {
  FAVOR_REQUIRE_MODELS();
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park.";
  for (const std::string& model :
       {kLlama2c, kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf"}) {
    const Result r = RunFavor("generate -m " + model +
                              " -p 'Once upon a time' -n 30 --temp 0 --repeat-penalty 1");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind(expected, 0), 0u) << model << ": " << r.out;
    EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
  }
  const Result hf = RunFavor("generate -m " + kModels + "/tinystories-656K -n 12 --temp 0");
  EXPECT_EQ(hf.exit_code, 0) << hf.err;
  EXPECT_EQ(hf.out.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << hf.out;
}

TEST(Cli, SeededSamplingIsReproducible) {
  FAVOR_REQUIRE_MODELS();
  const std::string args = "generate -m " + kLlama2c + " -p 'Once upon a time' -n 40 --seed 7";
  const Result a = RunFavor(args), b = RunFavor(args + " -t 1");
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out,
            RunFavor("generate -m " + kLlama2c + " -p 'Once upon a time' -n 40 --seed 8").out);
}

TEST(Cli, TokenizerOverride) {
  FAVOR_REQUIRE_MODELS();
  const Result r = RunFavor("generate -m " + kLlama2c + " --tokenizer " + kModels +
                            "/stories260K/tok512.model -p 'Once upon a time' -n 10 --temp 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl", 0), 0u) << r.out;
}

TEST(Cli, CalibrateThenGenerateWithFavorAttention) {
  FAVOR_REQUIRE_MODELS();
  const std::string text =
      ::testing::TempDir() + "/favor_cli_calibration_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(text)
      << "Tom had a red kite. Every morning he ran to the hill and let the kite fly. "
         "One day the string broke and the kite landed in a pond. A duck helped him.";
  const std::string stats = text + ".favor-stats";
  const Result calibrate = RunFavor("calibrate -m " + kLlama2c + " -f " + text + " -o " + stats);
  EXPECT_EQ(calibrate.exit_code, 0) << calibrate.err;
  EXPECT_NE(calibrate.err.find("statistics written to"), std::string::npos) << calibrate.err;
  for (const std::string attention : {"favor+", "favor++", "favor#"}) {
    const Result r =
        RunFavor("generate -m " + kLlama2c + " -p 'Once upon a time' -n 20 --temp 0 --attention " +
                 attention + " --features 64 --favor-stats " + stats);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u) << r.out;
    EXPECT_NE(r.err.find("attention " + attention), std::string::npos) << r.err;
  }
  // Statistics from the prompt, SDERF features, two layers only.
  const Result sderf = RunFavor("generate -m " + kLlama2c +
                                " -p 'Once upon a time' -n 10 --attention favor# "
                                "--rf sderf --favor-stats prompt --favor-layers 0,3-4 --seed 1");
  EXPECT_EQ(sderf.exit_code, 0) << sderf.err;
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + " --attention favor#  --favor-stats /nonexistent"), 1,
      "/nonexistent");
  ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + " --attention favor3"), 2,
                       "unknown attention 'favor3'");
  ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + " --attention favor# --favor-layers 9"),
                       1, "layer 9 does not exist");
  ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + " --attention favor# --favor-layers x"),
                       2, "bad layer list");
}

TEST(Cli, VarianceTableReproducesTheClosedForms) {
  FAVOR_REQUIRE_MODELS();
  const Result r = RunFavor("variance --pairs 4 --samples 200 --s2 0.125");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* name :
       {"trigrf", "posrf", "oprf", "poisson", "geometric", "saderf", "aderf", "sderf"}) {
    EXPECT_NE(r.out.find(std::string("| ") + name + " |"), std::string::npos) << r.out;
  }
  const Result model =
      RunFavor("variance --pairs 4 --samples 100 --s2 0.5 -o csv -m " + kLlama2c + " --layer 2");
  EXPECT_EQ(model.exit_code, 0) << model.err;
  EXPECT_NE(model.out.find("model layer 2 (d=8),sderf"), std::string::npos) << model.out;
}

TEST(Cli, InspectDescribesTheModel) {
  FAVOR_REQUIRE_MODELS();
  const Result r =
      RunFavor("inspect -m " + kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GGUF v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dim 64, layers 5, heads 8, kv heads 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokenizer:    gguf, 512 pieces"), std::string::npos) << r.out;
}

// The traits that set an architecture apart, and the refusal of random features where Gemma 2's
// soft-capped scores make them a different function.
TEST(Cli, InspectShowsTheArchitecturesTraits) {
  const std::string fixtures = std::string(FAVOR_SOURCE_DIR) + "/tests/data/architectures";
  const Result gemma2 = RunFavor("inspect -m " + fixtures + "/gemma2.gguf");
  ASSERT_EQ(gemma2.exit_code, 0) << gemma2.err;
  for (const char* trait : {"GeGLU feed-forward", "post-attention and post-FFN norms",
                            "query scale 0.25", "sliding window 5 on even layers",
                            "scores soft-capped at 1.5", "logits soft-capped at 2"}) {
    EXPECT_NE(gemma2.out.find(trait), std::string::npos) << trait << "\n" << gemma2.out;
  }
  const Result qwen2 = RunFavor("inspect -m " + fixtures + "/qwen2-hf");
  ASSERT_EQ(qwen2.exit_code, 0) << qwen2.err;
  EXPECT_NE(qwen2.out.find("q/k/v biases"), std::string::npos) << qwen2.out;
  ExpectOneLineError(
      RunFavor("logits -m " + fixtures + "/gemma2.gguf --ids 1,2 --attention favor#"), 1,
      "soft-caps its attention scores");
  // A quantized file says what it stores, per tensor and in total.
  const Result q4 = RunFavor("inspect -m " + std::string(FAVOR_SOURCE_DIR) +
                             "/tests/data/quantized/qwen2-q4_0.gguf");
  ASSERT_EQ(q4.exit_code, 0) << q4.err;
  EXPECT_NE(q4.out.find("stored:       f32 x11, q4_0 x15, q8_0 x1"), std::string::npos) << q4.out;
  EXPECT_NE(q4.out.find("q4_0[64, 64]"), std::string::npos) << q4.out;
  // -v says where the weights live: the Q4_0 matrices and the Q8_0 head are repacked for the
  // decode kernels, nothing is copied for oneDNN.
  const Result run = RunFavor("generate -m " + std::string(FAVOR_SOURCE_DIR) +
                              "/tests/data/quantized/qwen2-q4_0.gguf -p hi -n 2 -v");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("favor: weights: matrices read in place as stored: none"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("repacked with 8 rows interleaved, the file's pages released: q4_0 x14, "
                         "q8_0 x1"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("packed copies: none"), std::string::npos) << run.err;
}

// Each failure: a non-zero exit and a single line on stderr that names the problem.
TEST(Cli, BadInputIsAOneLineErrorAndANonZeroExit) {
  FAVOR_REQUIRE_MODELS();
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c + " --frobnicate"), 2,
                     "unknown option '--frobnicate'");
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c + " --temp hot"), 2,
                     "--temp: 'hot' is not a number");
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c + " -n"), 2, "-n needs a value");
  ExpectOneLineError(RunFavor("generate -m /nonexistent/model.gguf"), 1,
                     "model '/nonexistent/model.gguf' does not exist");
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c +
                              " -c 8 -p 'Once upon a time there was a "
                              "little girl named Lily who loved to play'"),
                     1, "tokens but the context holds 8");
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c + " --tokenizer /nonexistent.model"), 1,
                     "cannot open tokenizer '/nonexistent.model'");
  ExpectOneLineError(RunFavor("generate -m " + kLlama2c + " --tokenizer " + kModels +
                              "/tinystories-656K/config.json"),
                     1, "config.json");
  ExpectOneLineError(RunFavor("frobnicate"), 2, "unknown command 'frobnicate'");
}

// A corrupt file from the internet and a context beyond the machine: one-line errors, exit 1,
// before any output.
TEST(Cli, CorruptModelsAndImpossibleContextsAreOneLineErrors) {
  FAVOR_REQUIRE_MODELS();
  const std::string gguf =
      favor::testing::ReadAll(kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf");
  const std::string truncated = favor::testing::WriteTemp("truncated.gguf", gguf.substr(0, 1000));
  ExpectOneLineError(RunFavor("generate -m " + truncated), 1, "truncated");
  std::string checkpoint = favor::testing::ReadAll(kLlama2c);
  favor::testing::Poke(checkpoint, 28 + 4 * 100, std::numeric_limits<float>::quiet_NaN());
  const std::string nan = favor::testing::WriteTemp("nan.bin", checkpoint);
  ExpectOneLineError(
      RunFavor("generate -m " + nan + " --tokenizer " + kModels + "/stories260K/tok512.bin"), 1,
      "tensor 'token_embd.weight' holds a NaN or Inf at element 100 (row 1, column 36)");
  // 10^11 tokens of KV cache: 119 TiB.
  const Result huge = RunFavor("generate -m " + kLlama2c + " -c 100000000000 -n 4");
  ExpectOneLineError(huge, 1, "a context of 100000000000 tokens needs 116.42 TiB");
  EXPECT_NE(huge.err.find("this machine has"), std::string::npos) << huge.err;
  std::remove(truncated.c_str());
  std::remove(nan.c_str());
}

TEST(Cli, GenerationStopsCleanlyWhenTheContextFills) {
  FAVOR_REQUIRE_MODELS();
  const Result r =
      RunFavor("generate -m " + kLlama2c + " -c 16 -p 'Once upon a time' -n 100 --temp 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // 5 prompt tokens and 11 generated ones fill the 16 positions; a 12th is sampled from the
  // logits of the full context, and generation stops there.
  EXPECT_NE(r.err.find("generated 12 tokens"), std::string::npos) << r.err;
}

TEST(Cli, BenchRunsAGridOnASyntheticShapeInEveryFormat) {
  const std::string grid =
      "bench --shape tiny -p 16 -n 4 -d 0,32 --attention exact,favor# --features 16,32 -r 1 -t 1";
  const Result md = RunFavor(grid);
  ASSERT_EQ(md.exit_code, 0) << md.err;
  // 3 attentions (exact, favor# x 2 M) x 2 depths x (pp + tg) = 12 rows.
  EXPECT_EQ(std::count(md.out.begin(), md.out.end(), '\n'), 4 + 12 + 2 + 2) << md.out;
  EXPECT_NE(md.out.find("| tiny | f32 | 1 | favor# M=32 | tg4 @ d32 |"), std::string::npos)
      << md.out;
  EXPECT_NE(md.out.find("crossover with exact attention"), std::string::npos) << md.out;

  const Result csv = RunFavor(grid + " -o csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 13) << csv.out;

  const std::string plot =
      ::testing::TempDir() + "/favor_bench_" + std::to_string(::getpid()) + ".svg";
  const Result json = RunFavor(grid + " -o json --plot " + plot);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out.rfind("{", 0), 0u);
  EXPECT_NE(json.out.find("\"results\""), std::string::npos);
  EXPECT_EQ(favor::testing::ReadAll(plot).rfind("<svg", 0), 0u);
  std::remove(plot.c_str());
}

// --dtype with a storage type runs the synthetic model quantized (a row per type).
TEST(Cli, BenchRunsSyntheticModelsInStorageTypes) {
  const Result r = RunFavor(
      "bench --shape tiny --dtype q8_0,q4_0 -p 20 -n 2 --attention exact "
      "-r 1 -t 1 -o csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tiny,q8_0,1,exact"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tiny,q4_0,1,exact"), std::string::npos) << r.out;
}

TEST(Cli, BenchRefusesBadGridsWithUsageErrors) {
  ExpectOneLineErrorFn(RunFavor("bench --shape nope"), 2, "unknown model shape 'nope'");
  ExpectOneLineErrorFn(RunFavor("bench"), 2, "give a model (-m PATH) or a synthetic shape");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny -d 1-8/2"), 2, "-d: bad list");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny -o xml"), 2, "-o must be md, csv or json");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny -p 0 -n 0"), 2, "no tests");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny --dtype q3_0"), 2, "--dtype: 'q3_0'");
  ExpectOneLineErrorFn(RunFavor("bench -m " + kLlama2c + " --dtype q4_0"), 2,
                       "a model file runs in its own types");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny -t 0"), 2, "-t: bad thread count 0");
  ExpectOneLineErrorFn(RunFavor("bench --shape tiny --attention 'favor*' -r 1 -p 8 -n 0"), 2,
                       "unknown attention 'favor*'");
}

TEST(Cli, EvalComparesApproximateAttentionWithExact) {
  FAVOR_REQUIRE_MODELS();
  const std::string text = ::testing::TempDir() + "/favor_eval_" + std::to_string(::getpid());
  {
    std::ofstream out(text + ".txt");
    out << "Once upon a time, there was a little girl named Lily. She loved to play in the park "
           "with her ball. One day, the ball rolled into the pond and Lily was sad.";
    std::ofstream calibration(text + "_calibration.txt");
    calibration << "Tom had a dog. The dog liked to run in the sun. One day they went to the "
                   "park and saw a big red bird. Tom was happy and the dog barked.";
  }
  const Result r = RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --calibrate-on " + text +
                            "_calibration.txt --attention favor+,sderf --features 16,64 -o csv "
                            "--plot " +
                            text + ".svg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1 + 1 + 4) << r.out;
  EXPECT_NE(r.out.find(",exact,,,,,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(",sderf,64,,,calibrated,"), std::string::npos) << r.out;
  EXPECT_NE(favor::testing::ReadAll(text + ".svg").find(">sderf<"), std::string::npos);

  // Per-layer errors: one column per layer (stories260K has 5), zero for exact, positive else.
  const Result layers =
      RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --calibrate-on " + text +
               "_calibration.txt --attention favor# --features 32 -o csv "
               "--layer-errors");
  ASSERT_EQ(layers.exit_code, 0) << layers.err;
  EXPECT_NE(layers.out.find("layer4_attention_rel_error\n"), std::string::npos) << layers.out;
  EXPECT_NE(layers.out.find(",exact,,,,,"), std::string::npos);
  const size_t favor_row = layers.out.find(",favor#,32,");
  ASSERT_NE(favor_row, std::string::npos) << layers.out;
  const std::string row =
      layers.out.substr(favor_row, layers.out.find('\n', favor_row) - favor_row);
  // From the attention on: 9 fields to top-1, 10 of memory and the equal-memory baseline, 5
  // layers, each after a comma.
  EXPECT_EQ(std::count(row.begin(), row.end(), ','), 9 + 10 + 5) << row;
  EXPECT_EQ(row.find(",0.000000"), std::string::npos)
      << "every swapped layer has an error: " << row;

  ExpectOneLineErrorFn(RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt"), 1,
                       "calibration statistics");

  // Plain perplexity: exact attention alone needs no statistics and prints its row alone.
  const Result exact = RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --attention exact");
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_NE(exact.out.find("statistics none (exact attention only)"), std::string::npos)
      << exact.out;
  EXPECT_NE(exact.out.find("| exact | - | - | - | - | 128.0 KiB | 512.0 | 2.181 |"),
            std::string::npos)
      << exact.out;
  EXPECT_EQ(std::count(exact.out.begin(), exact.out.end(), '|'), 3 * 12) << exact.out;
  // Overlapping windows score every token once: as many predicted tokens, in more windows.
  const Result strided = RunFavor("eval -m " + kLlama2c + " -f " + text +
                                  ".txt --attention exact -c 24 --stride 8 -o json");
  ASSERT_EQ(strided.exit_code, 0) << strided.err;
  EXPECT_NE(strided.out.find("\"predicted_tokens\": 53,"), std::string::npos) << strided.out;
  EXPECT_NE(strided.out.find("\"windows\": 5,"), std::string::npos) << strided.out;
  EXPECT_NE(strided.out.find("\"stride\": 8,"), std::string::npos) << strided.out;
  EXPECT_NE(strided.out.find("\"features\": null, \"window\": null"), std::string::npos)
      << strided.out;
  ExpectOneLineErrorFn(
      RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --attention exact -c 24 --stride 30"),
      2, "--stride 30 is longer than a window's 23 tokens");
  // Hybrid with the sequence's own statistics needs no file either.
  const Result causal = RunFavor("eval -m " + kLlama2c + " -f " + text +
                                 ".txt --attention favor# --favor-stats causal --window 8 "
                                 "--features 32");
  ASSERT_EQ(causal.exit_code, 0) << causal.err;
  EXPECT_NE(causal.out.find("| favor# | 32 | 8 | 4 | causal |"), std::string::npos) << causal.out;
  ExpectOneLineErrorFn(RunFavor("eval -m " + kLlama2c + " -f " + text +
                                ".txt --attention favor# --favor-stats causal"),
                       2, "--favor-stats causal needs hybrid attention");
  ExpectOneLineErrorFn(RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --attention trig"), 2,
                       "--attention: unknown attention 'trig'");
  ExpectOneLineErrorFn(
      RunFavor("eval -m " + kLlama2c + " -f " + text + ".txt --favor-stats prompt"), 2,
      "strictly causal");
  ExpectOneLineErrorFn(RunFavor("eval -m " + kLlama2c + " -f /nonexistent.txt"), 1,
                       "cannot open '/nonexistent.txt'");
  for (const char* suffix : {".txt", "_calibration.txt", ".svg"}) {
    std::remove((text + suffix).c_str());
  }
}

TEST(Cli, HybridAttentionFromTheCommandLine) {
  FAVOR_REQUIRE_MODELS();
  // The window-only attention needs no statistics; with a window covering the whole text it is
  // exact attention, so greedy text matches exact.
  const std::string greedy = " -p 'Once upon a time' -n 20 --temp 0 --repeat-penalty 1";
  const Result exact = RunFavor("generate -m " + kLlama2c + greedy);
  const Result window =
      RunFavor("generate -m " + kLlama2c + greedy + " --attention window --window 64");
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  ASSERT_EQ(window.exit_code, 0) << window.err;
  EXPECT_EQ(window.out, exact.out);
  // Hybrid out of the box: no statistics file, so the sequence's own, taken causally; with a
  // window that covers the text it is exact attention too.
  const Result hybrid =
      RunFavor("generate -m " + kLlama2c + greedy + " --attention hybrid --window 64");
  ASSERT_EQ(hybrid.exit_code, 0) << hybrid.err;
  EXPECT_EQ(hybrid.out, exact.out);
  const Result short_window =
      RunFavor("generate -m " + kLlama2c + greedy + " --attention hybrid --window 4 --sinks 2");
  ASSERT_EQ(short_window.exit_code, 0) << short_window.err;
  EXPECT_EQ(short_window.out.rfind("Once upon a time", 0), 0u) << short_window.out;
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + greedy + " --attention hybrid --favor-stats calibrated"),
      1, "calibration statistics (run favor calibrate");
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + greedy + " --attention favor# --favor-stats causal"), 1,
      "--favor-stats causal needs hybrid attention");
  for (const char* flag : {" --window 8", " --sinks 2", " --features 64", " --rf sderf",
                           " --favor-stats prompt", " --favor-layers 1", " --favor-seed 3"}) {
    ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + greedy + flag), 2,
                         "applies to approximate attention only");
  }
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + greedy + " --attention window --features 64"), 2,
      "window attention has none");
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + greedy + " --attention favor+ --rf sderf"), 2,
      "--attention favor+ means posrf features; --rf sderf contradicts it");
  // A hybrid grid whose statistics are missing fails before anything is measured.
  const Result missing = RunFavor(
      "bench --shape tiny -p 8 -n 2 --attention exact,hybrid --favor-stats calibrated -r 1 -t 1");
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_EQ(missing.err.find("favor bench: exact"), std::string::npos) << missing.err;

  const Result bench = RunFavor(
      "bench --shape tiny -p 8 -n 2 -d 0,300 --attention exact,window,favor+ --window 16 --sinks 2 "
      "-r 1 -t 1");
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_NE(bench.out.find("| window W=16 S=2 | tg2 @ d300 |"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("| favor+ M=256 W=16 S=2 | pp8 @ d300 |"), std::string::npos)
      << bench.out;
}

TEST(Cli, PerHeadPlanFromCalibrationToGeneration) {
  FAVOR_REQUIRE_MODELS();
  const std::string text =
      ::testing::TempDir() + "/favor_cli_plan_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(text)
      << "Tom had a red kite. Every morning he ran to the hill and let the kite fly. "
         "One day the string broke and the kite landed in a pond. A duck helped him.";
  const std::string stats = text + ".favor-stats";
  const Result calibrate =
      RunFavor("calibrate -m " + kLlama2c + " -f " + text + " -o " + stats +
               " --plan --plan-windows 0,4,8,exact --plan-budget 20 --features 0,16");
  ASSERT_EQ(calibrate.exit_code, 0) << calibrate.err;
  EXPECT_NE(calibrate.out.find("hybrid plan: saderf tails, 4 sinks"), std::string::npos)
      << calibrate.out;
  EXPECT_NE(calibrate.out.find("mean cost"), std::string::npos) << calibrate.out;
  const Result inspect = RunFavor("inspect -m " + kLlama2c + " --favor-stats " + stats);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("hybrid plan: saderf tails"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("    4 "), std::string::npos) << "layer 4's row\n" << inspect.out;

  const Result generate = RunFavor(
      "generate -m " + kLlama2c + " -p 'Once upon a time' -n 12 --temp 0 -v --favor-plan " + stats);
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  EXPECT_EQ(generate.out.rfind("Once upon a time", 0), 0u) << generate.out;
  EXPECT_NE(generate.err.find("attention hybrid"), std::string::npos) << generate.err;

  for (const char* flag : {" --window 8", " --sinks 2", " --rf sderf", " --features 32",
                           " --favor-stats calibrated"}) {
    ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + " --favor-plan " + stats + flag), 2,
                         "overrides what the --favor-plan was measured with");
  }
  ExpectOneLineErrorFn(
      RunFavor("generate -m " + kLlama2c + " --favor-plan " + stats + " --attention favor+"), 2,
      "--favor-plan runs hybrid attention; --attention favor+ contradicts it");
  // Windows the short text cannot measure, and a file without a plan.
  ExpectOneLineErrorFn(
      RunFavor("calibrate -m " + kLlama2c + " -f " + text + " -o " + stats + ".2 --plan"), 1,
      "is not shorter than the");
  ASSERT_EQ(RunFavor("calibrate -m " + kLlama2c + " -f " + text + " -o " + stats).exit_code, 0);
  ExpectOneLineErrorFn(RunFavor("generate -m " + kLlama2c + " --favor-plan " + stats), 1,
                       "no hybrid plan");
  ExpectOneLineErrorFn(
      RunFavor("calibrate -m " + kLlama2c + " -f " + text + " --plan --plan-windows 4,x"), 2,
      "bad window list");
  std::remove(text.c_str());
  std::remove(stats.c_str());
}

}  // namespace

namespace {

// favor logits: one line per position, every value of the vocabulary; whole or token by token
// alike; the reference llama.cpp computed for the same GGUF (tests/data/architectures).
TEST(Cli, LogitsPrintsEveryPositionAsLlamaCppComputesIt) {
  const std::string fixtures = std::string(FAVOR_SOURCE_DIR) + "/tests/data/architectures";
  const Result whole = RunFavor("logits -m " + fixtures + "/llama.gguf --ids 1,15,27 -t 1");
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const Result stepwise =
      RunFavor("logits -m " + fixtures + "/llama.gguf --ids 1,15,27 -t 1 --stepwise");
  ASSERT_EQ(stepwise.exit_code, 0) << stepwise.err;
  std::ifstream reference_file(fixtures + "/llama.logits");
  std::string line;
  std::getline(reference_file, line);  // The ids.
  auto rows = [](const std::string& text) {
    std::vector<std::vector<float>> parsed;
    std::istringstream lines(text);
    for (std::string row; std::getline(lines, row);) {
      std::istringstream values(row);
      parsed.emplace_back(std::istream_iterator<float>(values), std::istream_iterator<float>());
    }
    return parsed;
  };
  const auto ours = rows(whole.out);
  const auto decoded = rows(stepwise.out);
  ASSERT_EQ(ours.size(), 3u);
  ASSERT_EQ(decoded.size(), 3u);
  for (size_t t = 0; t < 3; ++t) {
    std::getline(reference_file, line);
    const auto expected = rows(line)[0];
    ASSERT_EQ(ours[t].size(), 272u);
    EXPECT_LE(favor::testing::NormalizedError(ours[t], expected), 1e-4) << t;
    EXPECT_LE(favor::testing::NormalizedError(decoded[t], expected), 1e-4) << t;
  }
  struct BadCall {
    std::string arguments;
    int exit_code;
    std::string message;
  };
  for (const BadCall& bad : std::vector<BadCall>{
           {"--ids 1,x", 2, "--ids: 'x' is not a token id"},
           {"--ids 1,272", 1, "token id 272 is outside the model's vocabulary of 272"},
           {"", 2, "give the tokens with --ids LIST or the text with -p TEXT"}}) {
    ExpectOneLineError(RunFavor("logits -m " + fixtures + "/llama.gguf " + bad.arguments),
                       bad.exit_code, bad.message);
  }
}

}  // namespace
