namespace Shoal.Agent.Logs;

/// <summary>The manager the node's session is with now: where the <see cref="LogAgent"/> listens for subscriptions.</summary>
public interface IManagerConnection
{
    /// <summary>host:port of the manager the open session goes to; null while there is none.</summary>
    string? ManagerAddress { get; }

    /// <summary>Raised each time a session is opened (possibly with another manager).</summary>
    event EventHandler<SessionEstablishedEventArgs>? SessionEstablished;
}

/// <summary>The <see cref="AgentSession"/> as the <see cref="LogAgent"/> sees it.</summary>
/// <param name="session">The node's session with the managers.</param>
public sealed class AgentSessionConnection(AgentSession session) : IManagerConnection
{
    /// <inheritdoc/>
    public string? ManagerAddress => session.ManagerAddress;

    /// <inheritdoc/>
    public event EventHandler<SessionEstablishedEventArgs>? SessionEstablished
    {
        add => session.SessionEstablished += value;
        remove => session.SessionEstablished -= value;
    }
}
