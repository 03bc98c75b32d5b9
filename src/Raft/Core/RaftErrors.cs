namespace Shoal.Raft.Core;

/// <summary>A proposal made on a member that is not the leader; <see cref="LeaderId"/> says where to forward it (0 = unknown).</summary>
public sealed class NotLeaderException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NotLeaderException(ulong leaderId)
        : base(leaderId == 0 ? "this member is not the leader and knows of none yet" : $"this member is not the leader; the leader is {leaderId:x}")
    {
        LeaderId = leaderId;
    }

    /// <summary>Creates the exception.</summary>
    public NotLeaderException()
        : this(0)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NotLeaderException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NotLeaderException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The leader's Raft ID, or 0 when none is known.</summary>
    public ulong LeaderId { get; }
}
