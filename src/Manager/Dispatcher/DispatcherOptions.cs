namespace Shoal.Manager.Dispatcher;

/// <summary>
/// The dispatcher's timings and batching limits (DESIGN §8, §13). The heartbeat period itself is cluster-wide and
/// comes from <c>ClusterSpec.dispatcher.heartbeat_period</c>; <see cref="DefaultHeartbeatPeriod"/> applies only when
/// the cluster spec leaves it unset.
/// </summary>
public sealed record DispatcherOptions
{
    /// <summary>The heartbeat period when the cluster spec has none.</summary>
    /// <value>5 s.</value>
    public TimeSpan DefaultHeartbeatPeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest fraction of the period added to or taken from each heartbeat's answer.</summary>
    /// <value>0.1 (5 s ± 0.5 s).</value>
    public double HeartbeatJitter { get; init; } = 0.1;

    /// <summary>Periods without a heartbeat after which a node is marked DOWN and its session ended.</summary>
    /// <value>3.</value>
    public int HeartbeatGraceMultiplier { get; init; } = 3;

    /// <summary>Periods a node that was not DOWN has, after a leader change, to register again before it is marked DOWN.</summary>
    /// <value>6.</value>
    public int LeaderChangeGraceMultiplier { get; init; } = 6;

    /// <summary>
    /// Periods the grace after a leader change may stretch to while nodes are still registering again: a node's grace
    /// is extended, a period at a time, as long as some other node came back within the last period. Thousands of nodes
    /// re-registering at once can take longer than <see cref="LeaderChangeGraceMultiplier"/> periods, and marking the
    /// ones still queued DOWN would reschedule their tasks for nothing. Sessions whose heartbeats are late meanwhile
    /// get the same stretch: the heartbeats queue behind the registrations on the manager too.
    /// </summary>
    /// <value>24 (2 min at 5 s).</value>
    public int LeaderChangeMaxGraceMultiplier { get; init; } = 24;

    /// <summary>How long node status writes (registrations, DOWN) are gathered into one store batch.</summary>
    /// <value>50 ms.</value>
    public TimeSpan NodeWriteInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long task status updates are gathered into one store batch.</summary>
    /// <value>100 ms.</value>
    public TimeSpan TaskStatusInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Task status updates (or node writes) that flush a batch before its interval is over.</summary>
    /// <value>10,000.</value>
    public int MaxBatchItems { get; init; } = 10_000;

    /// <summary>How long assignment changes are gathered into one increment.</summary>
    /// <value>100 ms.</value>
    public TimeSpan AssignmentsInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Assignment changes that send an increment before its interval is over.</summary>
    /// <value>100.</value>
    public int MaxAssignmentChanges { get; init; } = 100;

    /// <summary>Registrations of one node allowed within <see cref="RegistrationWindow"/>; one more is refused.</summary>
    /// <value>3.</value>
    public int MaxRegistrations { get; init; } = 3;

    /// <summary>The window <see cref="MaxRegistrations"/> counts over.</summary>
    /// <value>8 s.</value>
    public TimeSpan RegistrationWindow { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Throws when a value makes no sense (zero periods, negative limits).</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DefaultHeartbeatPeriod, TimeSpan.Zero, nameof(DefaultHeartbeatPeriod));
        ArgumentOutOfRangeException.ThrowIfNegative(HeartbeatJitter, nameof(HeartbeatJitter));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(HeartbeatJitter, 1.0, nameof(HeartbeatJitter));
        ArgumentOutOfRangeException.ThrowIfLessThan(HeartbeatGraceMultiplier, 1, nameof(HeartbeatGraceMultiplier));
        ArgumentOutOfRangeException.ThrowIfLessThan(LeaderChangeGraceMultiplier, 1, nameof(LeaderChangeGraceMultiplier));
        ArgumentOutOfRangeException.ThrowIfLessThan(LeaderChangeMaxGraceMultiplier, LeaderChangeGraceMultiplier, nameof(LeaderChangeMaxGraceMultiplier));
        ArgumentOutOfRangeException.ThrowIfLessThan(NodeWriteInterval, TimeSpan.Zero, nameof(NodeWriteInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(TaskStatusInterval, TimeSpan.Zero, nameof(TaskStatusInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(AssignmentsInterval, TimeSpan.Zero, nameof(AssignmentsInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchItems, 1, nameof(MaxBatchItems));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAssignmentChanges, 1, nameof(MaxAssignmentChanges));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRegistrations, 1, nameof(MaxRegistrations));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RegistrationWindow, TimeSpan.Zero, nameof(RegistrationWindow));
    }
}

/// <summary>Why the dispatcher refused a call or ended a stream; the gRPC boundary maps each to a status code.</summary>
public enum DispatcherErrorKind
{
    /// <summary>This manager is not running the dispatcher (not the leader, or leadership was just lost).</summary>
    NotRunning,

    /// <summary>The node registered too often; it should wait before registering again.</summary>
    RateLimited,

    /// <summary>The session is unknown, expired or was replaced: the node must register again.</summary>
    SessionNotFound,

    /// <summary>The node asked about something that is not its own (another node's task).</summary>
    PermissionDenied,

    /// <summary>The node was removed from the swarm.</summary>
    NodeRemoved,

    /// <summary>The request is malformed.</summary>
    InvalidArgument,
}

/// <summary>A refusal by the dispatcher, with a message for the operator.</summary>
public sealed class DispatcherException(DispatcherErrorKind kind, string message) : Exception(message)
{
    /// <summary>What went wrong.</summary>
    public DispatcherErrorKind Kind { get; } = kind;
}
