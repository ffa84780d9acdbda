// A small CUDA program for the CUPTI module (issue 16): a few kernels on two streams,
// copies both ways, a memset, NVTX ranges around each phase.
//
//   nvcc -O2 -o cuda_vecadd samples/cuda_vecadd.cu
//   traceagent run -- ./cuda_vecadd        (or LD_PRELOAD=build/lib/libtraceagent.so)
//
// Prints what it computed, a checksum that does not depend on the timing, and how many
// kernels, copies and memsets it launched. Where no GPU
// (or no driver) is found it says so on stderr and exits 2, traced or not.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#define CHECK(call)                                                                        \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "cuda_vecadd: %s failed: %s (%s)\n", #call,                    \
                    cudaGetErrorName(e_), cudaGetErrorString(e_));                         \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

__global__ void vecAdd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

__global__ void scale(float *x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] *= s;
}

// a kernel with dynamic shared memory: a block-wise sum
__global__ void blockSum(const float *x, float *out, int n)
{
    extern __shared__ float sh[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    sh[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        out[blockIdx.x] = sh[0];
}

int main()
{
    const int n = 1 << 20, threads = 256, blocks = (n + threads - 1) / threads;
    const size_t bytes = n * sizeof(float);

    nvtxRangePushA("setup");
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        nvtxRangePop();
        fprintf(stderr, "cuda_vecadd: no CUDA device: %s\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return 2;
    }
    float *ha, *hb, *hc; // pinned: asynchronous copies
    CHECK(cudaMallocHost(&ha, bytes));
    CHECK(cudaMallocHost(&hb, bytes));
    CHECK(cudaMallocHost(&hc, bytes));
    std::vector<float> hsum(blocks);
    for (int i = 0; i < n; i++) {
        ha[i] = (float)(i % 1000);
        hb[i] = 2.0f * (float)(i % 7);
    }
    float *da, *db, *dc, *dsum;
    CHECK(cudaMalloc(&da, bytes));
    CHECK(cudaMalloc(&db, bytes));
    CHECK(cudaMalloc(&dc, bytes));
    CHECK(cudaMalloc(&dsum, blocks * sizeof(float)));
    cudaStream_t s1, s2;
    CHECK(cudaStreamCreate(&s1));
    CHECK(cudaStreamCreate(&s2));
    nvtxRangePop();

    nvtxRangePushA("copy in");
    CHECK(cudaMemcpyAsync(da, ha, bytes, cudaMemcpyHostToDevice, s1));
    CHECK(cudaMemcpyAsync(db, hb, bytes, cudaMemcpyHostToDevice, s2));
    CHECK(cudaMemsetAsync(dsum, 0, blocks * sizeof(float), s2));
    CHECK(cudaDeviceSynchronize());
    nvtxRangePop();

    nvtxRangePushA("compute");
    vecAdd<<<blocks, threads, 0, s1>>>(da, db, dc, n);
    CHECK(cudaGetLastError());
    scale<<<blocks, threads, 0, s2>>>(db, 0.5f, n); // b on the other stream, at the same time
    CHECK(cudaGetLastError());
    CHECK(cudaStreamSynchronize(s2));
    blockSum<<<blocks, threads, threads * sizeof(float), s1>>>(dc, dsum, n);
    CHECK(cudaGetLastError());
    CHECK(cudaStreamSynchronize(s1));
    nvtxRangePop();

    nvtxRangePushA("copy out");
    CHECK(cudaMemcpyAsync(hc, dc, bytes, cudaMemcpyDeviceToHost, s1));
    CHECK(cudaMemcpy(hsum.data(), dsum, blocks * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaStreamSynchronize(s1));
    nvtxRangePop();

    double total = 0, check = 0;
    for (int i = 0; i < blocks; i++)
        total += hsum[i];
    for (int i = 0; i < n; i++)
        check += hc[i];
    printf("cuda_vecadd: %d elements, %d blocks, sum %.0f (expected %.0f)\n", n, blocks, total,
           check);
    // what it launched, exactly: tests/gpu/check.py compares the trace's GPU work with it
    // (vecAdd, scale, blockSum; 2 copies in, 2 out; the memset of dsum)
    printf("cuda_vecadd: kernels 3 copies 4 memsets 1\n");
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
    cudaFree(dsum);
    cudaFreeHost(ha);
    cudaFreeHost(hb);
    cudaFreeHost(hc);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
    return total == check ? 0 : 1;
}
