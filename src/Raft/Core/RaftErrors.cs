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

/// <summary>A proposal whose precondition failed on the driver's loop: nothing entered the log.</summary>
public sealed class ProposalRefusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProposalRefusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ProposalRefusedException()
        : base("the proposal's precondition failed")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ProposalRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
