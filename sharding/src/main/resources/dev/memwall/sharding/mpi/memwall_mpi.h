/*
 * The few Open MPI calls memwall's MPI backend needs, on MPI_COMM_WORLD, MPI_FLOAT and MPI_SUM (MAX on integer keys for one), so the Java side
 * (MpiNative.java) sees plain ints and pointers and never an MPI handle. Every function returns an MPI error code
 * (MPI_SUCCESS = 0): the world communicator is set to MPI_ERRORS_RETURN, so a failed call reports instead of exiting.
 *
 * One collective is in flight at a time (the backend's single communication thread issues them in order), so its
 * request lives in one static variable: memwall_mpi_i* start it, memwall_mpi_test polls it.
 */
#ifndef MEMWALL_MPI_H
#define MEMWALL_MPI_H

#include <dlfcn.h>
#include <stdlib.h>
#include <mpi.h>

static MPI_Request memwall_mpi_request = MPI_REQUEST_NULL;
static char memwall_mpi_text[MPI_MAX_ERROR_STRING > MPI_MAX_LIBRARY_VERSION_STRING
                             ? MPI_MAX_ERROR_STRING : MPI_MAX_LIBRARY_VERSION_STRING];

/*
 * The JVM loads this binding, and with it libmpi, RTLD_LOCAL; Open MPI's plugins (mca_*.so, dlopen'ed by MPI_Init)
 * expect libmpi's symbols to be global. Re-open the libmpi already loaded (found through the address of MPI_Init)
 * with RTLD_GLOBAL | RTLD_NOLOAD, which promotes it without loading a second copy, then initialise.
 * MPI_THREAD_SERIALIZED: the caller's thread initialises and finalises, the communication thread makes every call in
 * between, never two threads at once.
 */
static inline int memwall_mpi_init(int* provided) {
    Dl_info info;
    if (dladdr((void*) &MPI_Init, &info) != 0 && info.dli_fname != NULL) {
        dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    }
    int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
    if (err != MPI_SUCCESS) return err;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

static inline int memwall_mpi_rank(int* rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
static inline int memwall_mpi_size(int* size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

/* Non-blocking collectives, in place on native memory that outlives the call (a heap array cannot). */
static inline int memwall_mpi_iallreduce(float* buf, int count) {
    return MPI_Iallreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &memwall_mpi_request);
}
/* Element-wise maximum of ordered integer keys of floats (an FP8 recipe's amax agreed over shards): MPI's MAX on
 * MPI_FLOAT answers by the order of its operands when one is NaN, MAX on the keys is exact (MpiProcessGroup). */
static inline int memwall_mpi_iallreduce_max(int* buf, int count) {
    return MPI_Iallreduce(MPI_IN_PLACE, buf, count, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &memwall_mpi_request);
}
/* buf holds N blocks of count floats; this rank's block of the sum lands at buf[0, count). */
static inline int memwall_mpi_ireduce_scatter_block(float* buf, int count) {
    return MPI_Ireduce_scatter_block(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &memwall_mpi_request);
}
/* buf holds N blocks of count floats, this rank's own already at block [rank]. */
static inline int memwall_mpi_iallgather(float* buf, int count) {
    return MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, count, MPI_FLOAT, MPI_COMM_WORLD, &memwall_mpi_request);
}
/* 16-bit elements (BF16/FP16 bit patterns) travel as MPI_UINT16_T: MPI only moves them, memwall sums in FP32. */
static inline int memwall_mpi_iallgather16(short* buf, int count) {
    return MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, count, MPI_UINT16_T, MPI_COMM_WORLD, &memwall_mpi_request);
}
/* send holds N blocks of count elements, block j for rank j; recv gets block [rank] of every rank, in rank order. */
static inline int memwall_mpi_ialltoall16(short* send, short* recv, int count) {
    return MPI_Ialltoall(send, count, MPI_UINT16_T, recv, count, MPI_UINT16_T, MPI_COMM_WORLD, &memwall_mpi_request);
}
static inline int memwall_mpi_ibcast(float* buf, int count, int root) {
    return MPI_Ibcast(buf, count, MPI_FLOAT, root, MPI_COMM_WORLD, &memwall_mpi_request);
}
static inline int memwall_mpi_ibarrier() {
    return MPI_Ibarrier(MPI_COMM_WORLD, &memwall_mpi_request);
}
/* *done = 1 once the collective in flight has completed (MPI_Test also drives Open MPI's progress). */
static inline int memwall_mpi_test(int* done) {
    return MPI_Test(&memwall_mpi_request, done, MPI_STATUS_IGNORE);
}

/* Blocking all-reduce on a float[] handed over by JNI as Get/ReleaseFloatArrayElements; for the buffer measurement. */
static inline int memwall_mpi_allreduce_elements(float* array, int off, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, array + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
/* Blocking all-reduce on native memory (what MPI_Iallreduce + a polling loop replaces); for the same measurement. */
static inline int memwall_mpi_allreduce(float* buf, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static inline int memwall_mpi_finalize() { return MPI_Finalize(); }
static inline int memwall_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static inline int memwall_mpi_initialized(int* flag) { return MPI_Initialized(flag); }
static inline int memwall_mpi_finalized(int* flag) { return MPI_Finalized(flag); }

static inline const char* memwall_mpi_error_string(int code) {
    int len = 0;
    if (MPI_Error_string(code, memwall_mpi_text, &len) != MPI_SUCCESS) return "unknown MPI error";
    return memwall_mpi_text;
}
static inline const char* memwall_mpi_library_version() {
    int len = 0;
    if (MPI_Get_library_version(memwall_mpi_text, &len) != MPI_SUCCESS) return "unknown";
    return memwall_mpi_text;
}

#endif
