/**
 * The Open MPI backend of {@code ProcessGroup}: {@link dev.memwall.sharding.mpi.MpiProcessGroup} over
 * {@link dev.memwall.sharding.mpi.MpiNative}, memwall's small JavaCPP binding to the system {@code libmpi}, for jobs
 * started by {@code mpirun} (one machine or many). {@link dev.memwall.sharding.mpi.MpiEnvironment} reads the variables
 * Open MPI's launcher sets.
 */
package dev.memwall.sharding.mpi;
