namespace Shoal.Manager.LogBroker;

/// <summary>The log broker's waits and buffer sizes (node-local: they shape memory and latency, not behaviour).</summary>
public sealed record LogBrokerOptions
{
    /// <summary>
    /// How long a subscription without follow waits for a node that has no subscription listener (not connected, or
    /// down) before it goes on without that node's logs.
    /// </summary>
    /// <value>2 s.</value>
    public TimeSpan NodeListenTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a subscription without follow waits for a node it was sent to, between its batches, before it goes on
    /// without the rest of that node's logs (a node that hangs, or whose connection died silently).
    /// </summary>
    /// <value>30 s.</value>
    public TimeSpan NodeIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Batches of lines held for a client that reads slower than nodes publish.</summary>
    /// <value>64 (each of at most the agent's 1,000 lines or 256 KiB).</value>
    public int ClientBufferBatches { get; init; } = 64;

    /// <summary>
    /// How long a publishing node waits for room in a slow client's buffer; after that the subscription ends with an
    /// error for the client rather than holding every publisher.
    /// </summary>
    /// <value>10 s.</value>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Subscription messages queued for one node's listener; a listener that falls this far behind is cut off (it listens again).</summary>
    /// <value>1,024.</value>
    public int ListenerBufferMessages { get; init; } = 1024;

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(NodeListenTimeout, TimeSpan.Zero, nameof(NodeListenTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(NodeIdleTimeout, TimeSpan.Zero, nameof(NodeIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(ClientBufferBatches, 1, nameof(ClientBufferBatches));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PublishTimeout, TimeSpan.Zero, nameof(PublishTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenerBufferMessages, 1, nameof(ListenerBufferMessages));
    }
}
