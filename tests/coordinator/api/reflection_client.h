// A minimal server-reflection client over a generic stub (the Debian packages ship no
// generated reflection stubs): lists the services a server offers.
#pragma once

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace moe::testing {

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with a raw ByteBuffer: one
// ServerReflectionRequest {list_services: "*"} (field 7), reads every response.
class ReflectionCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit ReflectionCall(grpc::GenericStub* stub) {
    const std::string request("\x3a\x01*", 3);
    grpc::Slice slice(request);
    request_ = grpc::ByteBuffer(&slice, 1);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub->PrepareBidiStreamingCall(&context_,
                                   "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    grpc::Slice slice;
    if (response_.TrySingleSlice(&slice).ok() || response_.DumpToSingleSlice(&slice).ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      responses_.emplace_back(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }
  // The service names of the ListServiceResponse (response field 6 -> repeated field 1 ->
  // name, field 1).
  std::vector<std::string> Services() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    std::vector<std::string> names;
    for (const std::string& bytes : responses_) {
      google::protobuf::UnknownFieldSet response;
      if (!response.ParseFromString(bytes)) continue;
      for (int i = 0; i < response.field_count(); ++i) {
        if (response.field(i).number() != 6) continue;
        google::protobuf::UnknownFieldSet list;
        if (!list.ParseFromString(response.field(i).length_delimited())) continue;
        for (int j = 0; j < list.field_count(); ++j) {
          google::protobuf::UnknownFieldSet service;
          if (!service.ParseFromString(list.field(j).length_delimited())) continue;
          for (int k = 0; k < service.field_count(); ++k) {
            if (service.field(k).number() == 1)
              names.push_back(service.field(k).length_delimited());
          }
        }
      }
    }
    return names;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_, response_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
  std::vector<std::string> responses_;
};

// The services `channel`'s server lists through reflection; empty on error.
inline std::vector<std::string> ListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  ReflectionCall call(&stub);
  return call.Services();
}

}  // namespace moe::testing
