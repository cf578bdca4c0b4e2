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

# A CUDA build needs nccl.h for the NCCL backend. Without it dist.backend=auto would fall back to Gloo for GPU
# tensors (slow, and a surprise on a multi-GPU run), so a CUDA build without it stops here unless asked.
set(TIPS_NCCL_INCLUDE_DIR "" CACHE PATH "folder holding nccl.h (pip: <site-packages>/nvidia/nccl/include)")
option(TIPS_ALLOW_NO_NCCL "Build for CUDA without the NCCL backend" OFF)
set(TIPS_HAVE_NCCL OFF)
if(TIPS_HAVE_CUDA)
  find_path(TIPS_NCCL_HEADER_DIR nccl.h HINTS ${TIPS_NCCL_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS} /usr/include
            /usr/local/cuda/include)
  if(TIPS_NCCL_HEADER_DIR)
    set(TIPS_HAVE_NCCL ON)
  elseif(NOT TIPS_ALLOW_NO_NCCL)
    message(FATAL_ERROR "CUDA build without nccl.h: multi-GPU runs would fall back to Gloo. hint: "
                        "-DTIPS_NCCL_INCLUDE_DIR=$(python3 -c 'import nvidia.nccl as n;print(n.__path__[0])')/include, "
                        "or -DTIPS_ALLOW_NO_NCCL=ON for a single-GPU build")
  endif()
endif()

# The Gloo backend needs gloo's own headers, which Debian's LibTorch ships and pip's torch does not.
include(CheckIncludeFileCXX)
set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
check_include_file_cxx(gloo/config.h TIPS_HAVE_GLOO_HEADERS)
unset(CMAKE_REQUIRED_INCLUDES)
message(STATUS "tipsv2.cpp: LibTorch ${Torch_VERSION}, C++${CMAKE_CXX_STANDARD}, CUDA ${TIPS_HAVE_CUDA}, "
               "NCCL ${TIPS_HAVE_NCCL}, Gloo headers ${TIPS_HAVE_GLOO_HEADERS}")
