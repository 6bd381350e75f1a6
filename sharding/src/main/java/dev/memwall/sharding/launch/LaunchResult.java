package dev.memwall.sharding.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

/**
 * How a launch ended: the launcher's exit code (0, or the status of the first rank that failed) and every rank's
 * outcome in rank order.
 *
 * @param exitCode    0 when every rank exited 0, else the status of the first rank that failed
 * @param failedRank  the first rank that failed, or -1
 * @param message     the line printed about the failure (naming the rank, its status and the ranks stopped), or null
 * @param ranks       one entry per rank, in rank order
 */
public record LaunchResult(int exitCode, int failedRank, String message, List<Rank> ranks) {
    /**
     * One rank's outcome.
     *
     * @param status  its exit status (128 + S when killed by signal S)
     * @param stopped whether the launcher stopped it (because another rank failed or the launcher itself was stopped)
     * @param summary the last line of its stdout that was a JSON object, when JSON lines were collected; else null
     */
    public record Rank(int rank, int status, boolean stopped, JsonNode summary) {
    }

    /** {@code {"world_size": N, "exit_code": C, "ranks": [summary of rank 0, ...]}}, null for a rank without one. */
    public ObjectNode toJson() {
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("world_size", ranks.size());
        out.put("exit_code", exitCode);
        var array = out.putArray("ranks");
        for (Rank r : ranks) array.add(r.summary() == null ? JsonNodeFactory.instance.nullNode() : r.summary());
        return out;
    }
}
