// Go ABIInternal (amd64) assignment against signatures worked out by hand from
// src/cmd/compile/abi-internal.md. Integer registers in order: RAX RBX RCX RDI RSI R8 R9 R10 R11.
#include <gtest/gtest.h>

#include "profile/go_abi.h"

namespace dwcp::profile {
namespace {

// The named types of the DWCP catalogue, declared as a profile would.
TypeTable dwcp_types() {
  std::map<std::string, TypeDecl> decls;
  decls["context.Context"].alias = "interface";
  decls["dwcp.CompressionLevel"].alias = "int";
  TypeDecl stream;
  stream.is_struct = true;
  stream.fields.push_back({"streamID", 8, "int"});
  decls["transport.StreamConn"] = stream;
  TypeDecl encoded;
  encoded.is_struct = true;
  encoded.fields.push_back({"OriginalSize", 24, "int"});
  decls["compression.EncodedData"] = encoded;
  TypeDecl word_struct;  // struct{ n int }: one word, passed like an int
  word_struct.is_struct = true;
  word_struct.size = 8;
  word_struct.fields.push_back({"n", 0, "int"});
  decls["Counter"] = word_struct;
  TypeDecl pair;  // two words, layout only partly declared
  pair.is_struct = true;
  pair.size = 16;
  pair.fields.push_back({"a", 0, "int"});
  decls["Pair"] = pair;
  auto table = TypeTable::build(decls, "dwcp");
  EXPECT_TRUE(table.ok()) << (table.ok() ? "" : table.error());
  return std::move(*table);
}

// amd64 unless a test asks for arm64, whatever machine runs the tests.
AbiAssignment assign(const std::string& receiver, const std::string& params, const std::string& results,
                     const std::string& scope = "dwcp", Arch arch = Arch::Amd64) {
  static const TypeTable types = dwcp_types();
  auto abi = assign_go_abi(GoSignature{receiver, params, results}, types, scope, arch);
  EXPECT_TRUE(abi.ok()) << (abi.ok() ? "" : abi.error());
  return abi.ok() ? *abi : AbiAssignment{};
}

std::string assign_error(const std::string& receiver, const std::string& params, const std::string& results) {
  static const TypeTable types = dwcp_types();
  auto abi = assign_go_abi(GoSignature{receiver, params, results}, types, "dwcp", Arch::Amd64);
  EXPECT_FALSE(abi.ok());
  return abi.ok() ? "" : abi.error();
}

// One string per value, e.g. {"RAX", "RBX+RCX", "SP+8..SP+24"}.
std::vector<std::string> where(const std::vector<AbiValue>& values, Arch arch = Arch::Amd64) {
  std::vector<std::string> out;
  for (const auto& value : values) out.push_back(describe_value_location(value, arch));
  return out;
}
using Where = std::vector<std::string>;

TEST(GoAbi, SendChunk) {
  // receiver RAX; stream RBX; chunk (ptr,len,cap) RCX RDI RSI; chunkID R8. Result error: RAX RBX.
  auto abi = assign("*MultiStreamTCP", "stream *StreamConn, chunk []byte, chunkID int", "error", "transport");
  ASSERT_TRUE(abi.receiver);
  EXPECT_EQ(describe_value_location(*abi.receiver, Arch::Amd64), "RAX");
  EXPECT_EQ(where(abi.params), (Where{"RBX", "RCX+RDI+RSI", "R8"}));
  EXPECT_EQ(where(abi.results), (Where{"RAX+RBX"}));
  EXPECT_EQ(abi.params[1].parts[1].offset, 8);  // the len word of the slice
  EXPECT_EQ(abi.params[1].parts[1].reg, 3);     // RDI
  EXPECT_EQ(abi.stack_args_size, 0);
}

TEST(GoAbi, TransportSignatures) {
  // Start() error
  EXPECT_EQ(where(assign("*MultiStreamTCP", "", "error").results), (Where{"RAX+RBX"}));
  // createStream(streamID int) error: receiver RAX, streamID RBX.
  EXPECT_EQ(where(assign("*MultiStreamTCP", "streamID int", "error").params), (Where{"RBX"}));
  // Send(data []byte) error: data RBX RCX RDI.
  EXPECT_EQ(where(assign("*MultiStreamTCP", "data []byte", "error").params), (Where{"RBX+RCX+RDI"}));
  // Receive(expectedSize int) ([]byte, error): results restart at RAX: []byte RAX RBX RCX, error RDI RSI.
  auto receive = assign("*MultiStreamTCP", "expectedSize int", "[]byte, error");
  EXPECT_EQ(where(receive.params), (Where{"RBX"}));
  EXPECT_EQ(where(receive.results), (Where{"RAX+RBX+RCX", "RDI+RSI"}));
  // receiveChunk(stream *StreamConn) (int, []byte, error): int RAX, []byte RBX RCX RDI, error RSI R8.
  auto receive_chunk = assign("*MultiStreamTCP", "stream *StreamConn", "(int, []byte, error)", "transport");
  EXPECT_EQ(where(receive_chunk.params), (Where{"RBX"}));
  EXPECT_EQ(where(receive_chunk.results), (Where{"RAX", "RBX+RCX+RDI", "RSI+R8"}));
  // reconnectStream(stream *StreamConn) error
  EXPECT_EQ(where(assign("*MultiStreamTCP", "stream *StreamConn", "error", "transport").params), (Where{"RBX"}));
}

TEST(GoAbi, CompressionSignatures) {
  // Encode(stateKey string, data []byte) (*EncodedData, error):
  //   receiver RAX, stateKey RBX RCX, data RDI RSI R8; results *EncodedData RAX, error RBX RCX.
  auto encode = assign("*DeltaEncoder", "stateKey string, data []byte", "*EncodedData, error", "compression");
  EXPECT_EQ(where(encode.params), (Where{"RBX+RCX", "RDI+RSI+R8"}));
  EXPECT_EQ(where(encode.results), (Where{"RAX", "RBX+RCX"}));
  // Decode(stateKey string, encoded *EncodedData) ([]byte, error): stateKey RBX RCX, encoded RDI.
  auto decode = assign("*DeltaEncoder", "stateKey string, encoded *EncodedData", "[]byte, error", "compression");
  EXPECT_EQ(where(decode.params), (Where{"RBX+RCX", "RDI"}));
  EXPECT_EQ(where(decode.results), (Where{"RAX+RBX+RCX", "RDI+RSI"}));
  // PruneOldBaselines() int: RAX.
  EXPECT_EQ(where(assign("*DeltaEncoder", "", "int").results), (Where{"RAX"}));
}

TEST(GoAbi, HdeSignatures) {
  // CompressMemory(vmID string, memoryData []byte, tier CompressionLevel) ([]byte, error):
  //   vmID RBX RCX, memoryData RDI RSI R8, tier (an int) R9.
  auto memory = assign("*HDE", "vmID string, memoryData []byte, tier CompressionLevel", "([]byte, error)");
  EXPECT_EQ(where(memory.params), (Where{"RBX+RCX", "RDI+RSI+R8", "R9"}));
  EXPECT_EQ(where(memory.results), (Where{"RAX+RBX+RCX", "RDI+RSI"}));
  // CompressDisk(vmID string, diskData []byte, blockID int, tier CompressionLevel): ... blockID R9, tier R10.
  auto disk = assign("*HDE", "vmID string, diskData []byte, blockID int, tier CompressionLevel", "[]byte, error");
  EXPECT_EQ(where(disk.params), (Where{"RBX+RCX", "RDI+RSI+R8", "R9", "R10"}));
  // Decompress(data []byte) ([]byte, error): data RBX RCX RDI.
  EXPECT_EQ(where(assign("*HDE", "data []byte", "[]byte, error").params), (Where{"RBX+RCX+RDI"}));
}

TEST(GoAbi, MigrateVMMemorySpillsTargetHostToTheStack) {
  // receiver          RAX                 (1 used, 8 left)
  // ctx (interface)   RBX RCX             (3 used)
  // vmID (string)     RDI RSI             (5 used)
  // memoryData        R8 R9 R10           (8 used, only R11 left)
  // targetHost        needs 2, 1 left: the whole string goes to the stack, SP+8 (ptr) SP+16 (len)
  // progressCallback  a func is 1 word: still fits, R11
  // result error      RAX RBX
  auto abi = assign("*MigrationAdapter",
                    "ctx context.Context, vmID string, memoryData []byte, targetHost string, "
                    "progressCallback func(int64)",
                    "error");
  EXPECT_EQ(where(abi.params), (Where{"RBX+RCX", "RDI+RSI", "R8+R9+R10", "SP+8..SP+24", "R11"}));
  const AbiValue& target_host = abi.params[3];
  ASSERT_TRUE(target_host.on_stack);
  ASSERT_EQ(target_host.parts.size(), 2u);
  EXPECT_EQ(target_host.parts[0].stack_off, 8);
  EXPECT_EQ(target_host.parts[1].stack_off, 16);
  EXPECT_EQ(abi.stack_args_size, 16);
  EXPECT_EQ(where(abi.results), (Where{"RAX+RBX"}));
}

// arm64 (R0..R15): the same "params" give the same register indices while they fit in nine
// registers; what spills on amd64 stays in registers on arm64.
TEST(GoAbi, Arm64AssignsR0ToR15AndSpillsLater) {
  auto send_chunk =
      assign("*MultiStreamTCP", "stream *StreamConn, chunk []byte, chunkID int", "error", "transport", Arch::Arm64);
  EXPECT_EQ(describe_value_location(*send_chunk.receiver, Arch::Arm64), "R0");
  EXPECT_EQ(where(send_chunk.params, Arch::Arm64), (Where{"R1", "R2+R3+R4", "R5"}));
  EXPECT_EQ(where(send_chunk.results, Arch::Arm64), (Where{"R0+R1"}));
  EXPECT_EQ(send_chunk.params[1].parts[0].reg,
            assign("*MultiStreamTCP", "stream *StreamConn, chunk []byte, chunkID int", "error", "transport")
                .params[1]
                .parts[0]
                .reg);

  auto migrate = assign("*MigrationAdapter",
                        "ctx context.Context, vmID string, memoryData []byte, targetHost string, "
                        "progressCallback func(int64)",
                        "error", "dwcp", Arch::Arm64);
  EXPECT_EQ(where(migrate.params, Arch::Arm64), (Where{"R1+R2", "R3+R4", "R5+R6+R7", "R8+R9", "R10"}));
  EXPECT_EQ(migrate.stack_args_size, 0);

  // Seventeen words: the sixteenth fits (R15), the seventeenth goes to the stack at SP+8.
  std::string many;
  for (int i = 0; i < 17; ++i) many += (i ? ", " : "") + std::string("a") + std::to_string(i) + " int";
  auto spilled = assign("", many, "", "dwcp", Arch::Arm64);
  EXPECT_EQ(describe_value_location(spilled.params[15], Arch::Arm64), "R15");
  EXPECT_EQ(describe_value_location(spilled.params[16], Arch::Arm64), "SP+8..SP+16");
  EXPECT_EQ(go_int_reg_count(Arch::Arm64), 16);
  EXPECT_EQ(go_int_reg_count(Arch::Amd64), 9);
}

TEST(GoAbi, MigrateVMDiskFitsInRegisters) {
  // receiver RAX, ctx RBX RCX, vmID RDI RSI, diskBlocks (map: 1 word) R8, targetHost R9 R10,
  // progressCallback R11: exactly 9 registers, nothing on the stack.
  auto abi = assign("*MigrationAdapter",
                    "ctx context.Context, vmID string, diskBlocks map[int][]byte, targetHost string, "
                    "progressCallback func(int64)",
                    "error");
  EXPECT_EQ(where(abi.params), (Where{"RBX+RCX", "RDI+RSI", "R8", "R9+R10", "R11"}));
  EXPECT_EQ(abi.stack_args_size, 0);
}

TEST(GoAbi, SyncClusterStateSpillsStateDataToTheStack) {
  // receiver RAX, ctx RBX RCX, sourceCluster RDI RSI, targetClusters ([]string) R8 R9 R10;
  // stateData ([]byte) needs 3 with only R11 left: stack SP+8 (ptr) SP+16 (len) SP+24 (cap).
  auto abi = assign("*FederationAdapter",
                    "ctx context.Context, sourceCluster string, targetClusters []string, stateData []byte", "error");
  EXPECT_EQ(where(abi.params), (Where{"RBX+RCX", "RDI+RSI", "R8+R9+R10", "SP+8..SP+32"}));
  EXPECT_EQ(abi.params[3].parts[1].stack_off, 16);  // len(stateData)
  EXPECT_EQ(abi.stack_args_size, 24);
}

TEST(GoAbi, PropagateBaseline) {
  // receiver RAX, ctx RBX RCX, baselineID RDI RSI, baselineData R8 R9 R10.
  auto abi = assign("*FederationAdapter", "ctx context.Context, baselineID string, baselineData []byte", "error");
  EXPECT_EQ(where(abi.params), (Where{"RBX+RCX", "RDI+RSI", "R8+R9+R10"}));
}

TEST(GoAbi, FloatsUseTheirOwnRegisters) {
  // ratio goes to X0 and does not consume an integer register: n still gets RBX.
  auto abi = assign("*T", "ratio float64, n int, pair complex128, small float32", "float64, int");
  EXPECT_EQ(where(abi.params), (Where{"X0", "RBX", "X1+X2", "X3"}));
  EXPECT_EQ(where(abi.results), (Where{"X0", "RAX"}));
}

TEST(GoAbi, FloatRegistersRunOutAfterFifteen) {
  std::string params;
  for (int i = 0; i < 16; ++i) params += (i ? ", f" : "f") + std::to_string(i) + " float64";
  auto abi = assign("", params, "");
  EXPECT_EQ(describe_value_location(abi.params[14], Arch::Amd64), "X14");
  EXPECT_EQ(describe_value_location(abi.params[15]), "SP+8..SP+16");
}

TEST(GoAbi, StackArgumentsAreAlignedToTheirType) {
  // Nine ints fill RAX..R11; then bool @SP+8, int32 aligned to 4 @SP+12, string aligned to 8 @SP+16.
  auto abi = assign("", "a, b, c, d, e, f, g, h, i int, flag bool, n int32, s string", "");
  EXPECT_EQ(describe_value_location(abi.params[8]), "R11");
  EXPECT_EQ(describe_value_location(abi.params[9]), "SP+8..SP+9");
  EXPECT_EQ(describe_value_location(abi.params[10]), "SP+12..SP+16");
  EXPECT_EQ(describe_value_location(abi.params[11]), "SP+16..SP+32");
  EXPECT_EQ(abi.params[10].parts[0].size, 4);
  EXPECT_EQ(abi.stack_args_size, 24);
}

TEST(GoAbi, StackResultsFollowTheArgumentArea) {
  // Args: nine ints in registers, `flag bool` at SP+8 (1 byte, area padded to 8). Results: nine ints
  // in registers again from RAX, the tenth on the stack after the argument area: SP+16.
  auto abi = assign("", "a, b, c, d, e, f, g, h, i int, flag bool", "int, int, int, int, int, int, int, int, int, int");
  EXPECT_EQ(describe_value_location(abi.results[0]), "RAX");
  EXPECT_EQ(describe_value_location(abi.results[8]), "R11");
  EXPECT_EQ(describe_value_location(abi.results[9]), "SP+16..SP+24");
  EXPECT_EQ(abi.stack_results_size, 8);
}

TEST(GoAbi, NamedAndGroupedParameters) {
  auto abi = assign("", "a, b int, s string, rest ...string", "(n int, err error)");
  ASSERT_EQ(abi.params.size(), 4u);
  EXPECT_EQ(abi.params[0].name, "a");
  EXPECT_EQ(abi.params[1].type->name, "int");
  EXPECT_EQ(where(abi.params), (Where{"RAX", "RBX", "RCX+RDI", "RSI+R8+R9"}));
  EXPECT_EQ(abi.results[1].name, "result1");
  EXPECT_EQ(abi.results[1].alias, "err");
  EXPECT_EQ(where(abi.results), (Where{"RAX", "RBX+RCX"}));
}

TEST(GoAbi, ChannelAndFuncTypesAreOneWord) {
  auto abi = assign("", "done chan struct{}, in <-chan int, cb func(a, b int) (int, error), p unsafe.Pointer", "");
  EXPECT_EQ(where(abi.params), (Where{"RAX", "RBX", "RCX", "RDI"}));
}

TEST(GoAbi, ValueReceiverAndSmallAggregates) {
  // A single-word struct and a [1]int travel like an int; a zero-length array takes nothing.
  auto abi = assign("Counter", "one [1]int, none [0]int, x int", "");
  EXPECT_EQ(describe_value_location(*abi.receiver, Arch::Amd64), "RAX");
  EXPECT_EQ(where(abi.params), (Where{"RBX", "(zero-sized)", "RCX"}));
}

TEST(GoAbi, UnsupportedAggregatesAreClearErrors) {
  EXPECT_NE(assign_error("", "p Pair", "").find("`Pair` is a struct passed by value, which is not supported"),
            std::string::npos);
  EXPECT_NE(assign_error("", "a [4]int", "").find("array passed by value"), std::string::npos);
  EXPECT_NE(assign_error("", "s transport.StreamConn", "").find("struct passed by value"), std::string::npos);
}

TEST(GoAbi, UnknownTypesAreNamed) {
  const std::string error = assign_error("*T", "level Compression", "");
  EXPECT_NE(error.find("params: parameter 0 `level`: unknown type `Compression`"), std::string::npos) << error;
  EXPECT_NE(error.find("\"dwcp.Compression\""), std::string::npos) << error;
  EXPECT_NE(assign_error("", "", "Missing").find("results: result0: unknown type `Missing`"), std::string::npos);
  EXPECT_NE(assign_error("Value", "", "").find("receiver: unknown type `Value`"), std::string::npos);
  // A pointer to an undeclared type is fine: only dereferencing it needs the layout.
  auto abi = assign("*Undeclared", "c *net.TCPConn", "");
  EXPECT_EQ(where(abi.params), (Where{"RBX"}));
}

TEST(GoAbi, TypesResolveInTheFunctionsPackageFirst) {
  // `StreamConn` written in package transport finds "transport.StreamConn"; written in another
  // package it does not exist.
  static const TypeTable types = dwcp_types();
  auto in_transport = types.resolve("StreamConn", "transport");
  ASSERT_TRUE(in_transport.ok());
  EXPECT_EQ((*in_transport)->name, "transport.StreamConn");
  EXPECT_FALSE(types.resolve("StreamConn", "compression").ok());
  // The root package's types can be written qualified or not.
  EXPECT_TRUE(types.resolve("CompressionLevel", "dwcp").ok());
  EXPECT_TRUE(types.resolve("dwcp.CompressionLevel", "transport").ok());
}

TEST(GoAbi, ParameterListSyntaxErrors) {
  EXPECT_NE(assign_error("", "a int, , b int", "").find("empty entry"), std::string::npos);
  EXPECT_NE(assign_error("", "a int, b", "").find("has a name but no type"), std::string::npos);
  EXPECT_NE(assign_error("", "a int, a string", "").find("appears twice"), std::string::npos);
  EXPECT_NE(assign_error("", "m map[int", "").find("unbalanced brackets"), std::string::npos);
  EXPECT_NE(assign_error("", "x Box[int]", "").find("generic types are not supported"), std::string::npos);
}

}  // namespace
}  // namespace dwcp::profile
