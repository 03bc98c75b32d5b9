using Shoal.Api;

namespace Shoal.Raft.Transport;

/// <summary>
/// A sink that forwards to the Raft member once it exists: the cluster port starts (and must serve Raft) before the
/// member is opened, and goes on serving when the manager part stops. Messages arriving with no member are dropped.
/// </summary>
public sealed class RaftMessageRelay : IRaftMessageSink
{
    private volatile IRaftMessageSink? _target;

    /// <summary>The member messages go to (null: dropped).</summary>
    public IRaftMessageSink? Target
    {
        get => _target;
        set => _target = value;
    }

    /// <inheritdoc/>
    public void Receive(RaftMessage message, string callerNodeId) => _target?.Receive(message, callerNodeId);

    /// <inheritdoc/>
    public void ReportUnreachable(ulong raftId) => _target?.ReportUnreachable(raftId);

    /// <inheritdoc/>
    public void ReportSnapshot(ulong raftId, bool failed) => _target?.ReportSnapshot(raftId, failed);
}
