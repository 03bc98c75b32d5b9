using Shoal.Api;

namespace Shoal.Agent;

/// <summary>
/// Receives the node's assignments as the dispatcher sends them: a complete set, then increments that each name the
/// set they apply to. The worker (task execution) implements it; a sink that cannot apply a message (an increment
/// to a set it does not have) throws, and the session starts over with a complete set.
/// </summary>
public interface IAssignmentSink
{
    /// <summary>Applies one message, in the order received.</summary>
    ValueTask ApplyAsync(AssignmentsMessage message, CancellationToken cancellationToken);
}

/// <summary>An increment did not apply to the set the sink holds.</summary>
public sealed class AssignmentSetMismatchException(string appliesTo, string current)
    : Exception($"the increment applies to assignment set \"{appliesTo}\" but this node holds \"{current}\"; a complete set is needed")
{
    /// <summary>The set the increment was for.</summary>
    public string AppliesTo { get; } = appliesTo;

    /// <summary>The set the sink holds.</summary>
    public string Current { get; } = current;
}
