namespace Shoal.Raft.Tests.Core;

/// <summary>
/// One client operation on a key-value register map, as the client saw it: a write of a value no other write uses,
/// or a read and what it returned (null = the key had no value). Times are logical and unique across the history.
/// </summary>
/// <param name="Returned">When the response arrived; null when none did (the client gave up or its server died).</param>
/// <param name="Lost">A write the system reported as definitely not done (its entry was replaced by another).</param>
internal sealed record KvOperation(int Client, string Key, bool IsWrite, string? Value, long Invoked, long? Returned, bool Lost = false)
{
    public override string ToString() =>
        $"client {Client} {(IsWrite ? "write" : "read")} {Key}={Value ?? "∅"} [{Invoked}, {(Returned is { } r ? r.ToString() : "…")}]{(Lost ? " (reported lost)" : string.Empty)}";
}

/// <summary>
/// Checks that a history of key-value operations is linearizable: that every operation can be given a point between
/// its invocation and its response such that reads return the last write before them. Linearizability is local, so
/// each key is checked on its own (Herlihy and Wing), by the search of Wing and Gong with the memoization of Lowe:
/// depth-first over which operation takes effect next, remembering (set of operations done, register value) pairs
/// already explored. A write without a response may take effect at any point after its invocation, or never; a read
/// without a response says nothing and is ignored; a write reported lost never takes effect.
/// </summary>
internal static class LinearizabilityChecker
{
    /// <summary>The most operations one key may have: the search keeps the set of operations done in 64 bits.</summary>
    public const int MaxOperationsPerKey = 64;

    /// <summary>Null when the history is linearizable; otherwise which key is not, and why.</summary>
    public static string? Check(IEnumerable<KvOperation> history)
    {
        foreach (var key in history.GroupBy(o => o.Key, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            if (CheckKey(key.Key, [.. key]) is { } failure)
            {
                return failure;
            }
        }

        return null;
    }

    private static string? CheckKey(string key, List<KvOperation> all)
    {
        var ops = all
            .Where(o => (o.IsWrite && !o.Lost) || (!o.IsWrite && o.Returned is not null))
            .OrderBy(o => o.Invoked)
            .ToList();
        if (ops.Count > MaxOperationsPerKey)
        {
            throw new ArgumentException($"key {key} has {ops.Count} operations; the checker handles at most {MaxOperationsPerKey} per key");
        }

        // Register values are numbered: 0 is "no value", 1.. the writes' values.
        var valueIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var write in ops.Where(o => o.IsWrite))
        {
            if (write.Value is null || !valueIds.TryAdd(write.Value, valueIds.Count + 1))
            {
                throw new ArgumentException($"key {key}: every write needs a distinct value ({write})");
            }
        }

        var effect = new int[ops.Count];
        var invoked = new long[ops.Count];
        var returned = new long[ops.Count];
        var required = 0ul;
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            invoked[i] = op.Invoked;
            returned[i] = op.Returned ?? long.MaxValue;
            if (op.Returned is not null)
            {
                required |= 1ul << i;
            }

            if (op.IsWrite)
            {
                effect[i] = valueIds[op.Value!];
            }
            else if (op.Value is null)
            {
                effect[i] = 0;
            }
            else if (!valueIds.TryGetValue(op.Value, out effect[i]))
            {
                var lost = all.FirstOrDefault(o => o.IsWrite && o.Value == op.Value);
                return $"key {key}: {op} returned a value that {(lost is null ? "no write wrote" : $"comes from a write reported lost ({lost})")}\n{Describe(all)}";
            }
        }

        var explored = new HashSet<(ulong Done, int Value)>();
        var deepest = 0ul;

        bool Search(ulong done, int value)
        {
            if ((done & required) == required)
            {
                return true;
            }

            if (!explored.Add((done, value)))
            {
                return false;
            }

            if (ulong.PopCount(done) > ulong.PopCount(deepest))
            {
                deepest = done;
            }

            // The next operation to take effect must have been invoked before every pending operation returned.
            var deadline = long.MaxValue;
            for (var i = 0; i < ops.Count; i++)
            {
                if ((done & (1ul << i)) == 0 && returned[i] < deadline)
                {
                    deadline = returned[i];
                }
            }

            for (var i = 0; i < ops.Count && invoked[i] < deadline; i++)
            {
                var bit = 1ul << i;
                if ((done & bit) != 0)
                {
                    continue;
                }

                if (ops[i].IsWrite ? Search(done | bit, effect[i]) : effect[i] == value && Search(done | bit, value))
                {
                    return true;
                }
            }

            return false;
        }

        if (Search(0, 0))
        {
            return null;
        }

        var stuck = ops.Where((_, i) => (deepest & (1ul << i)) == 0 && returned[i] != long.MaxValue).Take(3);
        return $"key {key} is not linearizable: after the longest linearizable prefix ({ulong.PopCount(deepest)} operations), none of these can come next: {string.Join("; ", stuck)}\n{Describe(all)}";
    }

    private static string Describe(IEnumerable<KvOperation> ops) =>
        "  history of the key:\n" + string.Join("\n", ops.OrderBy(o => o.Invoked).Select(o => "    " + o));
}
