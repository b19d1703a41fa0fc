// Helpers of the bad-input tests: read a real model file, corrupt a copy, write it where only
// this test will look.
#pragma once

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace favor::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A path in the temporary directory that no other test, and no other test run on the machine,
// uses: the process id and the running test's name are in it.
inline std::string UniqueTempPath(const std::string& name) {
  return ::testing::TempDir() + "/favor_" + std::to_string(::getpid()) + "_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name;
}

inline std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = UniqueTempPath(name);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

template <typename T>
void Poke(std::string& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

}  // namespace favor::testing
