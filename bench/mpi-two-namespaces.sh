#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2, addresses of
# these test hosts only), Open MPI's rsh launcher replaced by an agent that enters the namespace owning the address, and
# Open MPI's TCP transport between them. Trains `train --zero 1` on 2 ranks, one per namespace, and prints the bytes that
# crossed the veth. Needs root (ip netns), openmpi-bin and a built cli/target/memwall.jar. Usage:
#   bench/mpi-two-namespaces.sh [train options...]      (default: --zero 1 --steps 50)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jar=${MEMWALL_JAR:-$here/cli/target/memwall.jar}
[ -f "$jar" ] || { echo "build first: mvn -pl cli -am package -DskipTests" >&2; exit 1; }
work=$(mktemp -d /tmp/memwall-netns.XXXXXX)
A=mwnsA B=mwnsB
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$A"; ip netns add "$B"
ip link add mwvethA type veth peer name mwvethB   # deleting a namespace deletes its end, and so the pair
ip link set mwvethA netns "$A"; ip link set mwvethB netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev mwvethA; ip -n "$B" addr add 10.77.0.2/24 dev mwvethB
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set mwvethA up; ip -n "$B" link set mwvethB up

# The rsh agent: mpirun runs "AGENT HOST COMMAND..." as it would run ssh; the command is a shell command line.
cat > "$work/ns-rsh" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  10.77.0.1) ns=$A; name=mwhostA ;;
  10.77.0.2) ns=$B; name=mwhostB ;;
  *) echo "ns-rsh: unknown host \$host" >&2; exit 255 ;;
esac
# a host name of its own too (a UTS namespace), so Open MPI sees two nodes, as on two machines
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$name; \$*"
AGENT
chmod +x "$work/ns-rsh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$work/hostfile"

rx() { ip -n "$B" -s link show mwvethB | awk '/RX:/{getline; print $1}'; }
tx() { ip -n "$B" -s link show mwvethB | awk '/TX:/{getline; print $1}'; }
rx0=$(rx) tx0=$(tx)
opts=("$@"); [ ${#opts[@]} -gt 0 ] || opts=(--zero 1 --steps 50)
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
# mpirun itself runs in namespace A, on "host" 10.77.0.1; rank 1 is started through the agent in namespace B.
set -x
ip netns exec "$A" unshare --uts /bin/sh -c 'hostname mwhostA; exec "$@"' sh \
  mpirun "${root[@]}" --hostfile "$work/hostfile" -np 2 --mca plm_rsh_agent "$work/ns-rsh" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  --output-filename "$work/out" \
  java -Xmx1g -XX:+UseParallelGC -jar "$jar" train "${opts[@]}" --eval-every 0 --eval-examples 64 --no-progress --json
set +x
for r in 0 1; do echo "rank $r: $(grep '^{' "$work/out/1/rank.$r/stdout" | tail -1)"; done
echo "veth (namespace B's end): received $(( $(rx) - rx0 )) bytes, sent $(( $(tx) - tx0 )) bytes"
rm -rf "$work"
