# Decides TIPS_HAVE_CUDA. The code never assumes CPU: device choice happens at run time,
# this only tells the sources whether LibTorch was built with CUDA (for NCCL, pinned memory).
set(_tips_torch_cuda OFF)
if(TORCH_CXX_FLAGS MATCHES "USE_CUDA" OR TARGET torch_cuda OR CUDA_FOUND)
  set(_tips_torch_cuda ON)
endif()
if(TIPS_CUDA STREQUAL "ON" AND NOT _tips_torch_cuda)
  message(FATAL_ERROR "TIPS_CUDA=ON but this LibTorch has no CUDA. hint: point CMAKE_PREFIX_PATH at a CUDA LibTorch "
                      "(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') or use -DTIPS_CUDA=AUTO")
endif()
if(TIPS_CUDA STREQUAL "OFF")
  set(TIPS_HAVE_CUDA OFF)
else()
  set(TIPS_HAVE_CUDA ${_tips_torch_cuda})
endif()
message(STATUS "tipsv2.cpp: LibTorch ${Torch_VERSION}, CUDA support: ${TIPS_HAVE_CUDA}")
