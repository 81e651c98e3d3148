fn main() {
    println!("mdp: not yet");
}
