package dev.memwall.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.memwall.memory.Category;

import java.util.LinkedHashMap;
import java.util.Map;

/** JSON output of the commands: one object per line, keys in a stable order. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    private Json() {
    }

    static String line(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    /** Bytes by category with lower-case keys and a "total". */
    static Map<String, Long> bytes(Map<Category, Long> byCategory, long total) {
        Map<String, Long> m = new LinkedHashMap<>();
        byCategory.forEach((c, v) -> m.put(c.name().toLowerCase(), v));
        m.put("total", total);
        return m;
    }
}
