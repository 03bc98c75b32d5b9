namespace Shoal.Api.Validation;

/// <summary>
/// Placement constraints, <c>key==value</c> or <c>key!=value</c>, checked as SwarmKit's constraint.Parse does
/// (operators, key and value characters, surrounding spaces trimmed) plus what its scheduler needs to ever match:
/// a known key, a role of manager or worker, an address or CIDR block for node.ip.
/// </summary>
internal static class PlacementConstraint
{
    public const string NodeLabelPrefix = "node.labels.";
    public const string EngineLabelPrefix = "engine.labels.";

    /// <summary>Why <paramref name="expression"/> is not a valid constraint, or null when it is.</summary>
    public static string? Check(string expression)
    {
        // SwarmKit looks for "==" first, then "!=", and splits at the first occurrence.
        var text = expression.AsSpan();
        var op = text.IndexOf("==", StringComparison.Ordinal);
        if (op < 0)
        {
            op = text.IndexOf("!=", StringComparison.Ordinal);
        }

        if (op < 0)
        {
            return "has no operator (expected key==value or key!=value)";
        }

        var key = text[..op].Trim();
        var value = text[(op + 2)..].Trim();
        if (key.IsEmpty)
        {
            return "has no key before the operator";
        }

        if (!Patterns.ConstraintKey().IsMatch(key))
        {
            return "has an invalid key (letters, digits, '_', '-' and '.', starting with a letter or '_')";
        }

        if (value.IsEmpty)
        {
            return "has no value after the operator";
        }

        if (!Patterns.ConstraintValue().IsMatch(value))
        {
            return "has an invalid value (letters, digits, spaces and :-_.*()?+[]\\^$|/ only)";
        }

        if (IsLabelKey(key, NodeLabelPrefix) || IsLabelKey(key, EngineLabelPrefix)
            || key.Equals("node.id", StringComparison.OrdinalIgnoreCase)
            || key.Equals("node.hostname", StringComparison.OrdinalIgnoreCase)
            || key.Equals("node.platform.os", StringComparison.OrdinalIgnoreCase)
            || key.Equals("node.platform.arch", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (key.Equals("node.role", StringComparison.OrdinalIgnoreCase))
        {
            return value.Equals("manager", StringComparison.OrdinalIgnoreCase) || value.Equals("worker", StringComparison.OrdinalIgnoreCase)
                ? null
                : "compares node.role with something other than manager or worker";
        }

        if (key.Equals("node.ip", StringComparison.OrdinalIgnoreCase))
        {
            return IpText.TryParseAddress(value, out _) || IpText.TryParseCidr(value, out _, out _)
                ? null
                : "compares node.ip with something that is neither an IP address nor a CIDR block";
        }

        return "has an unknown key (node.id, node.hostname, node.role, node.ip, node.platform.os, node.platform.arch, "
            + "node.labels.<label> or engine.labels.<label>)";
    }

    /// <summary>Whether a spread descriptor names a node or engine label, the only things tasks can be spread over.</summary>
    public static bool IsSpreadDescriptor(string descriptor)
    {
        var text = descriptor.AsSpan().Trim();
        return IsLabelKey(text, NodeLabelPrefix) || IsLabelKey(text, EngineLabelPrefix);
    }

    private static bool IsLabelKey(ReadOnlySpan<char> key, string prefix) =>
        key.Length > prefix.Length && key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
}
