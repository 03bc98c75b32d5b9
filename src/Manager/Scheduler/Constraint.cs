using Shoal.Api;

namespace Shoal.Manager.Scheduler;

/// <summary>
/// One placement constraint, <c>key==value</c> or <c>key!=value</c>. Keys: <c>node.id</c>, <c>node.hostname</c>,
/// <c>node.role</c>, <c>node.platform.os</c>, <c>node.platform.arch</c>, <c>node.labels.X</c> (the node spec's labels)
/// and <c>engine.labels.X</c> (labels the node's engine reports). Values compare case-insensitively, as in SwarmKit.
/// </summary>
internal sealed record Constraint(string Key, bool MustEqual, string Value)
{
    private const string NodeLabelPrefix = "node.labels.";
    private const string EngineLabelPrefix = "engine.labels.";

    /// <summary>Parses every expression; on the first bad one returns false with an operator-facing reason.</summary>
    public static bool TryParseAll(IReadOnlyList<string> expressions, out Constraint[] constraints, out string? error)
    {
        constraints = new Constraint[expressions.Count];
        for (var i = 0; i < expressions.Count; i++)
        {
            if (!TryParse(expressions[i], out var constraint, out error))
            {
                constraints = [];
                return false;
            }

            constraints[i] = constraint;
        }

        error = null;
        return true;
    }

    public static bool TryParse(string expression, out Constraint constraint, out string? error)
    {
        constraint = null!;
        var eq = expression.IndexOf("==", StringComparison.Ordinal);
        var ne = expression.IndexOf("!=", StringComparison.Ordinal);
        var at = eq < 0 ? ne : ne < 0 ? eq : Math.Min(eq, ne);
        if (at < 0)
        {
            error = $"invalid constraint \"{expression}\": expected key==value or key!=value";
            return false;
        }

        var key = expression[..at].Trim();
        var value = expression[(at + 2)..].Trim();
        if (key.Length == 0 || value.Length == 0)
        {
            error = $"invalid constraint \"{expression}\": the key and the value must not be empty";
            return false;
        }

        if (value.Contains("==", StringComparison.Ordinal) || value.Contains("!=", StringComparison.Ordinal))
        {
            error = $"invalid constraint \"{expression}\": more than one operator";
            return false;
        }

        var known = key.ToLowerInvariant() switch
        {
            "node.id" or "node.hostname" or "node.role" or "node.platform.os" or "node.platform.arch" => true,
            var k when k.StartsWith(NodeLabelPrefix, StringComparison.Ordinal) && k.Length > NodeLabelPrefix.Length => true,
            var k when k.StartsWith(EngineLabelPrefix, StringComparison.Ordinal) && k.Length > EngineLabelPrefix.Length => true,
            _ => false,
        };
        if (!known)
        {
            error = $"invalid constraint \"{expression}\": unknown key \"{key}\" (use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label> or engine.labels.<label>)";
            return false;
        }

        error = null;
        constraint = new Constraint(key, at == eq, value);
        return true;
    }

    /// <summary>True when <paramref name="node"/> satisfies this constraint.</summary>
    public bool Matches(Node node)
    {
        var lower = Key.ToLowerInvariant();
        string? actual = lower switch
        {
            "node.id" => node.Id,
            "node.hostname" => node.Description?.Hostname,
            "node.role" => node.Role == NodeRole.Manager ? "manager" : "worker",
            "node.platform.os" => node.Description?.Platform?.Os,
            "node.platform.arch" => node.Description?.Platform?.Architecture,
            _ when lower.StartsWith(NodeLabelPrefix, StringComparison.Ordinal) =>
                Label(node.Spec?.Annotations?.Labels, Key[NodeLabelPrefix.Length..]),
            _ => Label(node.Description?.Engine?.Labels, Key[EngineLabelPrefix.Length..]),
        };

        // A missing label equals nothing: == fails and != holds.
        var equal = actual is not null && string.Equals(actual, Value, StringComparison.OrdinalIgnoreCase);
        return equal == MustEqual;
    }

    private static string? Label(Google.Protobuf.Collections.MapField<string, string>? labels, string name) =>
        labels is not null && labels.TryGetValue(name, out var value) ? value : null;
}
