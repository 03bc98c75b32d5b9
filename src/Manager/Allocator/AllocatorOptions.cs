namespace Shoal.Manager.Allocator;

/// <summary>The allocator's published-port range and its batching of passes (DESIGN §8, §13).</summary>
public sealed record AllocatorOptions
{
    /// <summary>SwarmKit's first dynamic port.</summary>
    public const uint DefaultDynamicPortStart = 30000;

    /// <summary>SwarmKit's last dynamic port.</summary>
    public const uint DefaultDynamicPortEnd = 32767;

    /// <summary>First port handed out for a published port of 0.</summary>
    /// <value>30000.</value>
    public uint DynamicPortStart { get; init; } = DefaultDynamicPortStart;

    /// <summary>Last port (inclusive) handed out for a published port of 0.</summary>
    /// <value>32767.</value>
    public uint DynamicPortEnd { get; init; } = DefaultDynamicPortEnd;

    /// <summary>A pass runs once the store has been quiet this long after a relevant commit.</summary>
    /// <value>50 ms.</value>
    public TimeSpan CommitDebounceGap { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A pass runs at most this long after the first relevant commit, however busy the store is.</summary>
    /// <value>1 s.</value>
    public TimeSpan MaxLatency { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfZero(DynamicPortStart, nameof(DynamicPortStart));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DynamicPortEnd, PortAllocator.MaxPort, nameof(DynamicPortEnd));
        ArgumentOutOfRangeException.ThrowIfLessThan(DynamicPortEnd, DynamicPortStart, nameof(DynamicPortEnd));
        ArgumentOutOfRangeException.ThrowIfLessThan(CommitDebounceGap, TimeSpan.Zero, nameof(CommitDebounceGap));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLatency, CommitDebounceGap, nameof(MaxLatency));
    }
}
