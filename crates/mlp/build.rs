fn main() {
    source_hash::emit();
}
